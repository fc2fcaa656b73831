// The bounds on what the CLI reads (task files, the sim config, flags) and the
// checks that hold them, before any parsing starts: the file size, UTF-8 text,
// whole numbers written in plain decimal. Pure TypeScript, bundle-safe (the
// CLI does the reading; these check what it read).

import { describe, fail, ok } from './parsed';
import type { Parsed } from './parsed';
import { TaskValidationError } from './types';

/** A task file (or sim config) over this many bytes is refused before it is parsed. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;
/** `run` and `setup` (each) over this many bytes are refused: they travel in workflow history. */
export const MAX_SCRIPT_BYTES = 256 * 1024;
/** YAML mappings and lists nested deeper than this are refused. */
export const MAX_YAML_DEPTH = 64;
/** YAML alias nodes (`*name`) in one file; their expansion is bounded too (maxAliasCount). */
export const MAX_YAML_ALIASES = 100;
export { MAX_NUM_NODES } from './values';

/** Bytes of `s` in UTF-8, without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function tooBig(file: string, bytes: number): TaskValidationError {
  return new TaskValidationError([
    {
      file,
      field: 'file',
      message: `the file is ${bytes} bytes; at most ${MAX_INPUT_FILE_BYTES} (1 MiB) are read`,
    },
  ]);
}

/** Throws when a file of `bytes` bytes is over MAX_INPUT_FILE_BYTES. */
export function checkInputSize(file: string, bytes: number): void {
  if (bytes > MAX_INPUT_FILE_BYTES) throw tooBig(file, bytes);
}

/** Why a `run` / `setup` script is refused for its size, or undefined. */
export function scriptTooBig(script: string): string | undefined {
  if (script.length * 3 <= MAX_SCRIPT_BYTES) return undefined;
  const bytes = utf8Length(script);
  if (bytes <= MAX_SCRIPT_BYTES) return undefined;
  return `the script is ${bytes} bytes; at most ${MAX_SCRIPT_BYTES} (256 KiB) are accepted (it travels in the workflow's history): put long scripts in a file under workdir and run that`;
}

/** Offset of the first byte that is not part of well-formed UTF-8, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const lead = b[i];
    if (lead < 0x80) {
      i++;
      continue;
    }
    let need: number;
    if (lead >= 0xc2 && lead <= 0xdf) need = 1;
    else if (lead >= 0xe0 && lead <= 0xef) need = 2;
    else if (lead >= 0xf0 && lead <= 0xf4) need = 3;
    else return i;
    // the second byte's range excludes overlong forms, surrogates and code points over U+10FFFF
    const lo = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const hi = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= need; k++) {
      const c = b[i + k];
      if (c === undefined || c < (k === 1 ? lo : 0x80) || c > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/**
 * The text of a file's bytes, which must be UTF-8 (a BOM is dropped) and at
 * most MAX_INPUT_FILE_BYTES. Throws TaskValidationError naming the line and
 * column of the first bad byte.
 */
export function decodeInput(bytes: Uint8Array, file: string): string {
  checkInputSize(file, bytes.length);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let lineStart = 0;
    let line = 1;
    for (let i = 0; i < at; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const before = new TextDecoder('utf-8').decode(bytes.subarray(lineStart, at));
    const column = [...before].length + 1;
    const hex = (bytes[at] ?? 0).toString(16).padStart(2, '0');
    throw new TaskValidationError([
      {
        file,
        line,
        column,
        field: 'file',
        message: `not valid UTF-8 text (byte 0x${hex}); save the file as UTF-8`,
      },
    ]);
  }
}

/**
 * A whole number written in plain decimal digits (`8`, not `0x8`, `8.0`, `8e0`
 * or `+8`), from `min` to `max`. `what` names it in the message ("job id").
 */
export function parseWholeNumber(v: unknown, what: string, min: number, max: number): Parsed<number> {
  const range = `${min}-${max}`;
  const expected = `expected ${what} as a whole number (${range}) in decimal digits`;
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v)) n = Number(v);
  else if (typeof v === 'string' && /^\s*\d+\s*$/.test(v)) return fail(`${expected}, got ${describe(v)} (too large)`);
  else return fail(`${expected}, got ${describe(v)}`);
  if (!Number.isSafeInteger(n)) return fail(`${expected}, got ${describe(v)}`);
  if (n < min || n > max) return fail(`${expected}, got ${describe(v)} (out of range)`);
  return ok(n);
}
