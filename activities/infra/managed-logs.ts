/** Where a managed job's attempt logs are kept once its cluster is gone (SKYRUN_HOME/managed-jobs). */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { homePath } from './home';

export function managedLogPath(jobId: number, attempt: number, rank: number): string {
  return homePath('managed-jobs', String(jobId), `attempt-${attempt}.rank-${rank}.log`);
}

/** Read a kept log from a byte offset (empty when it is not there). */
export async function readManagedLog(file: string, offset: number): Promise<{ data: Buffer; offset: number }> {
  const fh = await fsp.open(file, 'r').catch(() => undefined);
  if (!fh) return { data: Buffer.alloc(0), offset };
  try {
    const buf = Buffer.alloc(1 << 20);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return { data: buf.subarray(0, bytesRead), offset: offset + bytesRead };
  } finally {
    await fh.close();
  }
}

export async function writeManagedLog(file: string, data: Buffer): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file + '.tmp', data);
  await fsp.rename(file + '.tmp', file);
}
