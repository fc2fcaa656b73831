/**
 * `skyrun ssh` into a pod: a login shell in ~ with a TTY when stdin is a terminal, or a command
 * line run in ~ by `sh -c` (as ssh hands one to the remote shell), wired to this process's streams.
 */
import type { Writable } from 'node:stream';
import { podAttach, type KubeSpec } from './kube-exec';

const SHELL = 'cd ~ 2>/dev/null; if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi';

export interface ShellIo {
  stdin: NodeJS.ReadStream | NodeJS.ReadableStream;
  stdout: Writable;
  stderr: Writable;
}

/** Its exit code (255 when the pod could not say). */
export async function podShell(t: KubeSpec, command: string[], io: ShellIo): Promise<number> {
  const stdin = io.stdin as NodeJS.ReadStream;
  // a terminal only for an interactive shell, as `ssh -t` is used for one
  const tty = command.length === 0 && !!stdin.isTTY;
  const raw = tty && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode(true);
  try {
    // in ~, as over ssh
    return await podAttach(t, ['sh', '-c', command.length ? `cd ~ 2>/dev/null; ${command.join(' ')}` : SHELL], {
      stdin,
      stdout: io.stdout,
      stderr: tty ? null : io.stderr,
      tty,
    });
  } finally {
    if (raw) stdin.setRawMode(false);
    stdin.pause();
  }
}
