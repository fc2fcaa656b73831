/**
 * Reading a file the user names (a task file, a sim config): refused with exit 2, before anything
 * starts, when it is missing, a directory or not a regular file (a FIFO or /dev/zero would block
 * or never end), unreadable, over the size bound, or not UTF-8 (see core/task/input.ts).
 */
import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { ExitCode } from '../../core/states';
import { MAX_INPUT_FILE_BYTES, checkInputSize, decodeInput } from '../../core/task';
import { CliError } from './shared';

function refuse(file: string, why: string): CliError {
  return new CliError(`${file}: ${why}`, ExitCode.INVALID_INPUT);
}

/** The text of `file`, a `what` ("task file"); throws CliError or TaskValidationError (exit 2). */
export function readInputFile(file: string, what = 'task file'): string {
  let st: Stats;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw refuse(
      file,
      code === 'ENOENT' || code === 'ENOTDIR' ? `no such ${what}` : `cannot read the ${what} (${code})`,
    );
  }
  if (st.isDirectory()) throw refuse(file, `is a directory, not a ${what}`);
  if (!st.isFile()) throw refuse(file, `is not a regular file; a ${what} must be one`);
  checkInputSize(file, st.size);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw refuse(file, `cannot read the ${what} (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    // at most one byte over the bound, should the file have grown since stat
    const buf = Buffer.alloc(Math.min(st.size, MAX_INPUT_FILE_BYTES) + 1);
    let n = 0;
    for (let r = 1; r > 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    return decodeInput(buf.subarray(0, n), file);
  } catch (e) {
    if (e instanceof Error && 'code' in e)
      throw refuse(file, `cannot read the ${what} (${(e as NodeJS.ErrnoException).code})`);
    throw e;
  } finally {
    closeSync(fd);
  }
}
