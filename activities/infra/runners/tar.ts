/**
 * A tar (ustar, with pax headers for long names and large files) written in Node, for copying
 * files into a pod over exec: its exact size is known before the first byte is sent, which the
 * pod side needs (`head -c <size> | tar -x`: kwok does not pass stdin's EOF on).
 */
import { createReadStream } from 'node:fs';

export interface TarEntry {
  /** the path inside the archive, forward slashes, relative */
  name: string;
  /** the local file whose contents are written */
  abs: string;
  size: number;
  mode: number;
  /** seconds since the epoch */
  mtime: number;
}

const BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;

/** pax records (`<len> key=value\n`, the length counting itself) an entry needs, if any. */
function paxRecords(e: TarEntry): Buffer | undefined {
  const recs: string[] = [];
  if (Buffer.byteLength(e.name) > 100) recs.push(`path=${e.name}`);
  if (e.size > MAX_OCTAL_SIZE) recs.push(`size=${e.size}`);
  if (!recs.length) return undefined;
  return Buffer.from(
    recs
      .map((kv) => {
        const body = ` ${kv}\n`;
        let len = Buffer.byteLength(body) + 1;
        while (String(len).length + Buffer.byteLength(body) !== len) len++;
        return `${len}${body}`;
      })
      .join(''),
  );
}

function octal(h: Buffer, at: number, width: number, n: number): void {
  h.write(
    `${Math.max(0, Math.floor(n))
      .toString(8)
      .padStart(width - 1, '0')}\0`,
    at,
    width,
    'ascii',
  );
}

function header(name: Buffer, size: number, mode: number, mtime: number, type: string): Buffer {
  const h = Buffer.alloc(BLOCK);
  name.copy(h, 0, 0, Math.min(name.length, 100));
  octal(h, 100, 8, mode & 0o7777);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size > MAX_OCTAL_SIZE ? 0 : size);
  octal(h, 136, 12, mtime);
  h.fill(' ', 148, 156);
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0' + '00', 257, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** The archive's exact size in bytes. */
export function tarSize(entries: TarEntry[]): number {
  let n = 2 * BLOCK;
  for (const e of entries) {
    const pax = paxRecords(e);
    if (pax) n += BLOCK + padded(pax.length);
    n += BLOCK + padded(e.size);
  }
  return n;
}

/** Exactly `size` bytes of a file: cut if it grew since it was listed, zero-filled if it shrank. */
async function* fileBytes(abs: string, size: number): AsyncGenerator<Buffer> {
  let sent = 0;
  if (size > 0) {
    for await (const chunk of createReadStream(abs, { start: 0, end: size - 1, highWaterMark: 256 * 1024 })) {
      const b = (chunk as Buffer).subarray(0, size - sent);
      sent += b.length;
      yield b;
      if (sent >= size) break;
    }
  }
  if (sent < size) yield Buffer.alloc(size - sent);
  if (padded(size) > size) yield Buffer.alloc(padded(size) - size);
}

/** The archive, in chunks; exactly tarSize(entries) bytes. */
export async function* tarStream(entries: TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const pax = paxRecords(e);
    const name = Buffer.from(e.name);
    if (pax) {
      yield header(Buffer.from('././@PaxHeader'), pax.length, 0o644, e.mtime, 'x');
      yield Buffer.concat([pax, Buffer.alloc(padded(pax.length) - pax.length)]);
    }
    yield header(name, e.size, e.mode, e.mtime, '0');
    yield* fileBytes(e.abs, e.size);
  }
  yield Buffer.alloc(2 * BLOCK);
}
