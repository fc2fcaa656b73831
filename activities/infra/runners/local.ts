/**
 * The local runner: a node is a folder; phases run as detached process groups (setsid) whose
 * pid, exit code and log live in the node's job folder.
 */
import { spawn } from 'node:child_process';
import { promises as fsp, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ProviderError } from '../../../core/errors';
import type { DetachedStart, Phase, PhaseState, Runner } from './runner';

/**
 * The wrapper every phase runs in (locally and over SSH). It takes a lock so that two starts of
 * one phase run it once, records its pid, runs the user's script with the log appended, then
 * records the exit code atomically. User values reach it only through the environment, or
 * (over SSH) through `<phase>.env`, a file of shell-quoted exports it sources.
 */
export const WRAPPER = `
d="$SKYRUN_JOB_DIR"; p="$SKYRUN_PHASE"
mkdir "$d/$p.lock" 2>/dev/null || exit 0
echo $$ > "$d/$p.pid.tmp" && mv "$d/$p.pid.tmp" "$d/$p.pid"
cd "$SKYRUN_CWD" || exit 1
[ ! -f "$d/$p.env" ] || . "$d/$p.env"
bash "$d/$p.sh" >> "$d/log" 2>&1 < /dev/null
c=$?
echo $c > "$d/$p.exit.tmp" && mv "$d/$p.exit.tmp" "$d/$p.exit"
`;

export function jobDir(root: string, jobId: number): string {
  return path.join(root, '.skyrun', 'jobs', String(jobId));
}

function readInt(file: string): number | undefined {
  try {
    const n = parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalRunner implements Runner {
  constructor(readonly root: string) {}

  get workdir(): string {
    return path.join(this.root, 'sky_workdir');
  }

  async syncWorkdir(localDir: string): Promise<void> {
    const src = path.resolve(localDir);
    const st = await fsp.stat(src).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`workdir ${src} is not a folder`);
    await fsp.mkdir(this.workdir, { recursive: true });
    await fsp.cp(src, this.workdir, {
      recursive: true,
      force: true,
      filter: (s) => path.basename(s) !== '.git',
    });
  }

  async syncPath(): Promise<void> {
    // a local node is a folder of this machine: there is no separate filesystem to mount into
    throw new ProviderError(
      'invalid',
      'file_mounts are not supported on local nodes (local and sim infra) yet; use workdir',
    );
  }

  async startDetached(req: DetachedStart): Promise<void> {
    const d = jobDir(this.root, req.jobId);
    const pidFile = path.join(d, `${req.phase}.pid`);
    const exitFile = path.join(d, `${req.phase}.exit`);
    if (existsSync(exitFile) || existsSync(pidFile)) return; // started before: adopt
    await fsp.mkdir(d, { recursive: true });
    await fsp.mkdir(this.workdir, { recursive: true });
    await fsp.writeFile(path.join(d, `${req.phase}.sh`), req.script, { mode: 0o700 });
    const child = spawn('bash', ['-c', WRAPPER], {
      detached: true,
      stdio: 'ignore',
      cwd: this.root,
      env: { ...req.env, SKYRUN_JOB_DIR: d, SKYRUN_PHASE: req.phase, SKYRUN_CWD: this.workdir },
    });
    child.unref();
    // wait for the wrapper (or an earlier one holding the lock) to record its pid
    for (let i = 0; i < 500; i++) {
      if (existsSync(pidFile) || existsSync(exitFile)) return;
      await sleep(10);
    }
  }

  async phaseState(jobId: number, phase: Phase): Promise<PhaseState> {
    const d = jobDir(this.root, jobId);
    const exitCode = readInt(path.join(d, `${phase}.exit`));
    if (exitCode !== undefined) return { state: 'done', exitCode };
    const pid = readInt(path.join(d, `${phase}.pid`));
    if (pid !== undefined) {
      if (processAlive(pid)) return { state: 'running', pid };
      // it may have written its exit code between our two reads
      const late = readInt(path.join(d, `${phase}.exit`));
      return late !== undefined ? { state: 'done', exitCode: late } : { state: 'lost' };
    }
    const lock = await fsp.stat(path.join(d, `${phase}.lock`)).catch(() => undefined);
    if (!lock) return { state: 'absent' };
    return Date.now() - lock.mtimeMs > 30_000 ? { state: 'lost' } : { state: 'starting' };
  }

  async kill(jobId: number): Promise<void> {
    const d = jobDir(this.root, jobId);
    for (const phase of ['setup', 'run'] as const) {
      const pid = readInt(path.join(d, `${phase}.pid`));
      if (pid === undefined || existsSync(path.join(d, `${phase}.exit`))) continue;
      const signal = (sig: NodeJS.Signals) => {
        try {
          process.kill(-pid, sig);
        } catch {
          /* group already gone */
        }
      };
      signal('SIGTERM');
      for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(100);
      signal('SIGKILL');
      for (let i = 0; i < 50 && processAlive(pid); i++) await sleep(20);
      // the wrapper died with its group: record the signal's exit code for it
      if (!existsSync(path.join(d, `${phase}.exit`))) {
        await fsp.writeFile(path.join(d, `${phase}.exit`), '143\n');
      }
    }
  }

  async killAll(): Promise<void> {
    const jobs = await fsp.readdir(path.join(this.root, '.skyrun', 'jobs')).catch(() => [] as string[]);
    for (const j of jobs) await this.kill(Number(j));
  }

  async readLog(jobId: number, offset: number, maxBytes = 1 << 20): Promise<{ data: Buffer; offset: number }> {
    const file = path.join(jobDir(this.root, jobId), 'log');
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch {
      return { data: Buffer.alloc(0), offset };
    }
    try {
      const buf = Buffer.alloc(maxBytes);
      const { bytesRead } = await fh.read(buf, 0, maxBytes, offset);
      return { data: buf.subarray(0, bytesRead), offset: offset + bytesRead };
    } finally {
      await fh.close();
    }
  }
}
