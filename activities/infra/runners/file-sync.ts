/**
 * Copying local files to a node over a command channel, the same way for SSH and Kubernetes
 * nodes (neither needs SFTP nor rsync there): the remote copy is listed (SYNC_PREPARE), files
 * whose size and mtime match it are skipped, and the rest go as one tar stream (tar.ts) into
 * `tar -x` on the node (EXTRACT). .skyignore (else .gitignore) patterns apply and .git is left
 * out (workdir-files.ts). Remote files absent locally are kept (like SkyPilot's rsync, no --delete).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ProviderError } from '../../../core/errors';
import { EXTRACT, SYNC_PREPARE } from './ssh-scripts';
import { tarSize, tarStream, type TarEntry } from './tar';
import { listWorkdir } from './workdir-files';

/** Input for a command: bytes, or a stream of known size made afresh for each attempt. */
export type Stdin = Buffer | { size: number; chunks: () => AsyncIterable<Buffer> };

/** Run a fixed script on the node: its stdout, or a ProviderError saying `what` failed. */
export type RunScript = (
  what: string,
  script: string,
  args: (string | number)[],
  opts: { stdin?: Stdin; timeoutMs?: number },
) => Promise<Buffer>;

/** The local folder to copy as a workdir (absolute), or a ProviderError('invalid'). */
export async function workdirFolder(localDir: string): Promise<string> {
  const src = path.resolve(localDir);
  const st = await fsp.stat(src).catch(() => undefined);
  if (!st?.isDirectory()) throw new ProviderError('invalid', `workdir ${src} is not a folder`);
  return src;
}

/** A file_mounts entry: a local file or folder to `dest` on the node (a folder's files go under it). */
export async function syncLocalPath(localPath: string, dest: string, run: RunScript): Promise<void> {
  const src = path.resolve(localPath);
  const st = await fsp.stat(src).catch(() => undefined);
  if (!st) throw new ProviderError('invalid', `file_mounts: ${src} does not exist`);
  if (st.isDirectory()) return syncFolder(src, dest, run);
  const entry = { name: path.posix.basename(dest), abs: src, size: st.size, mode: st.mode & 0o777 };
  await copyFiles([{ ...entry, mtime: Math.floor(st.mtimeMs / 1000) }], path.posix.dirname(dest), run);
}

/** A local folder's files into `dest` on the node, skipping those whose size and mtime match. */
export async function syncFolder(src: string, dest: string, run: RunScript): Promise<void> {
  const { files, dirs } = await listWorkdir(src);
  const listing = await run('listing the workdir', SYNC_PREPARE, [dest], {
    stdin: Buffer.from(dirs.map((d) => `${d}\0`).join('')),
    timeoutMs: 300_000,
  });
  const remote = new Map<string, { size: number; mtime: number }>();
  const parts = listing.toString().split('\0');
  for (let i = 0; i + 2 < parts.length; i += 3) {
    remote.set(parts[i]!, { size: Number(parts[i + 1]), mtime: Math.floor(Number(parts[i + 2])) });
  }
  const changed = files.filter((f) => {
    const r = remote.get(f.rel);
    return !r || r.size !== f.size || r.mtime !== f.mtime;
  });
  if (changed.length)
    await copyFiles(
      changed.map((f) => ({ ...f, name: f.rel })),
      dest,
      run,
    );
}

/** One tar stream into `dir` on the node; the time allowed grows with its size (1 MB/s). */
async function copyFiles(entries: TarEntry[], dir: string, run: RunScript): Promise<void> {
  const size = tarSize(entries);
  await run('copying files', EXTRACT, [dir], {
    stdin: { size, chunks: () => tarStream(entries) },
    timeoutMs: 120_000 + size / 1000,
  });
}
