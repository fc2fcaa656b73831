/**
 * The local runner: a node is a folder; phases run as detached process groups (setsid) whose
 * pid, exit code and log live in the node's job folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp, existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { GitWorkdir } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';
import { CLONE_TIMEOUT_MS, GIT_CLONE, cloneArgs, cloneFailure, cloneStdin } from './git-workdir';
import {
  WRAPPER_RECHECKS,
  checkEnvValues,
  type DetachedStart,
  type Phase,
  type PhaseState,
  type Runner,
} from './runner';

/**
 * The wrapper every phase runs in (locally and over SSH). It takes a lock so that two starts of
 * one phase run it once, records its pid, runs the user's script with the log appended, then
 * records the exit code atomically. User values reach it only through the environment, or
 * (over SSH, SKYRUN_ENV_FILE set) through `<phase>.env`, a file of shell-quoted exports it
 * sources. A missing script (or env file) is a failure (127) with the reason in the log, never
 * an empty run that succeeds. Its environment (SKYRUN_JOB_DIR, SKYRUN_PHASE) marks the process
 * as this phase's wrapper, so a stale pid file never gets another process killed. In docker mode
 * (SKYRUN_CONTAINER set; SSH nodes only) it runs the phase in the node's container through
 * `in_container` (runners/container.ts, prepended by the SSH runner) and sources nothing itself.
 * It ends with a builtin: bash (5.1+) execs the last command of `bash -c` in its own process, and
 * while the wrapper's pid turned into `mv` its environment reads empty for a moment (the exec), so
 * a state check then saw a live process that was not ours and no exit file yet: `lost`.
 */
export const WRAPPER = `
d="$SKYRUN_JOB_DIR"; p="$SKYRUN_PHASE"
mkdir "$d/$p.lock" 2>/dev/null || exit 0
echo $$ > "$d/$p.pid.tmp" && mv "$d/$p.pid.tmp" "$d/$p.pid"
fail() { echo "skyrun: $1" >> "$d/log"; echo 127 > "$d/$p.exit.tmp" && mv "$d/$p.exit.tmp" "$d/$p.exit"; exit 0; }
[ -f "$d/$p.sh" ] || fail "the $p script is missing from $d; nothing was run"
[ -z "$SKYRUN_ENV_FILE" ] || [ -f "$d/$p.env" ] || fail "the $p environment is missing from $d; nothing was run"
cd "$SKYRUN_CWD" || fail "cannot enter the workdir $SKYRUN_CWD"
if [ -n "$SKYRUN_CONTAINER" ]; then
  in_container >> "$d/log" 2>&1 < /dev/null
else
  [ -z "$SKYRUN_ENV_FILE" ] || . "$d/$p.env"
  bash "$d/$p.sh" >> "$d/log" 2>&1 < /dev/null
fi
c=$?
echo $c > "$d/$p.exit.tmp" && mv "$d/$p.exit.tmp" "$d/$p.exit"
exit 0
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

/**
 * Whether `pid` is still the wrapper of this job's phase: its environment names the job folder
 * and the phase. Without /proc (not Linux) there is no telling, and it counts as ours.
 */
export function isWrapper(pid: number, dir: string, phase: Phase): boolean {
  if (!existsSync('/proc/self/environ')) return true;
  try {
    const vars = readFileSync(`/proc/${pid}/environ`).toString('utf8').split('\0');
    return vars.includes(`SKYRUN_JOB_DIR=${dir}`) && vars.includes(`SKYRUN_PHASE=${phase}`);
  } catch {
    return false; // gone, or another user's
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Whether any process of group `pgid` still runs (zombies do not count). The leader may be gone
 * while its children still run (or have a signal pending): the whole group is what must end.
 * Without /proc (not Linux), the leader alone tells.
 */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return processAlive(pgid);
  }
  return entries.some((e) => {
    if (!/^\d+$/.test(e)) return false;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(pgrp) === pgid && state !== 'Z' && state !== 'X';
    } catch {
      return false; // ended meanwhile
    }
  });
}

/** TERM, then KILL, the process group `pid` leads; waits (briefly) until every member has ended. */
async function killGroup(pid: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* group already gone */
    }
  };
  signal('SIGTERM');
  for (let i = 0; i < 50 && groupAlive(pid); i++) await sleep(100);
  signal('SIGKILL');
  for (let i = 0; i < 100 && groupAlive(pid); i++) await sleep(20);
}

/**
 * Write a file whole, once: to a unique temporary name, then hard-linked into place. A link
 * never replaces a file, so the first writer wins and nobody truncates a file that a wrapper
 * may be reading; a later writer's copy is dropped.
 */
export async function writeOnce(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await fsp.writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await fsp.link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  } finally {
    await fsp.unlink(tmp).catch(() => undefined);
  }
}

/**
 * Start the wrapper detached in its own process group. A failure to start (the OS refusing the
 * environment, no bash, no processes left) is a ProviderError whose message names the condition
 * and never holds an environment value: Node's own messages may quote one, and values may be
 * secrets.
 */
async function spawnWrapper(cwd: string, env: Record<string, string>): Promise<void> {
  const failed = (e: unknown): ProviderError => {
    const code = (e as NodeJS.ErrnoException)?.code ?? 'unknown';
    if (code === 'E2BIG')
      return new ProviderError(
        'invalid',
        "cannot start the phase: the job's environment is too large for the OS (E2BIG)",
        code,
      );
    if (code === 'ERR_INVALID_ARG_VALUE')
      return new ProviderError('invalid', 'cannot start the phase: an environment value holds a NUL byte', code);
    return new ProviderError('transient', `cannot start the phase: spawning bash failed (${code})`, code);
  };
  let child: ChildProcess;
  try {
    child = spawn('bash', ['-c', WRAPPER], { detached: true, stdio: 'ignore', cwd, env });
  } catch (e) {
    throw failed(e);
  }
  child.unref();
  // some failures (EAGAIN, ENOENT) arrive as an event: unheard, it would crash the process
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (e) => reject(failed(e)));
  });
}

/** A fixed script in bash with its arguments and stdin: its exit code and stderr (killed after `timeoutMs`). */
function runBash(
  script: string,
  args: string[],
  stdin: Buffer,
  timeoutMs: number,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script, 'skyrun', ...args], {
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: timeoutMs,
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
    child.stdin.on('error', () => undefined); // an early exit closes it: the exit code says why
    child.stdin.end(stdin);
    child.once('error', (e) =>
      reject(new ProviderError('transient', `cannot run bash: ${(e as NodeJS.ErrnoException).code}`)),
    );
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stderr }));
  });
}

/**
 * Where a file_mounts destination lands on a local node: under the node folder, an absolute path
 * (`/data/x`) and a home one (`~/data/x`) both at <node>/data/x, a relative one under
 * <node>/sky_workdir (SkyPilot's remote cwd). A path that would leave the node folder is refused.
 */
export function localMountPath(root: string, remote: string): string {
  const rel = remote === '~' ? '' : remote.startsWith('~/') ? remote.slice(2) : remote;
  const base = path.isAbsolute(rel) || remote.startsWith('~') ? root : path.join(root, 'sky_workdir');
  const dst = path.join(base, rel.replace(/^\/+/, ''));
  if (dst !== root && !dst.startsWith(root + path.sep))
    throw new ProviderError('invalid', `file_mounts ${remote}: leaves the node folder; expected a path inside it`);
  return dst;
}

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

  /** GIT_CLONE in a bash of this machine; the credentials on its stdin. */
  async cloneWorkdir(git: GitWorkdir): Promise<void> {
    const r = await runBash(GIT_CLONE, cloneArgs(this.workdir, git), cloneStdin(git), CLONE_TIMEOUT_MS);
    if (r.code !== 0) throw cloneFailure(`local node ${this.root}`, git, r.code, r.stderr);
  }

  /**
   * A local file_mounts entry: a local node is a folder of this machine, so the destination is
   * mapped under it (localMountPath); the job, which runs in <node>/sky_workdir, finds `/data`
   * at ../data. Files are copied, replacing older copies.
   */
  async syncPath(localPath: string, remotePath: string): Promise<void> {
    const dst = localMountPath(this.root, remotePath);
    await fsp.mkdir(path.dirname(dst), { recursive: true });
    await fsp.cp(path.resolve(localPath), dst, { recursive: true, force: true });
  }

  async startDetached(req: DetachedStart): Promise<void> {
    checkEnvValues(req.env);
    const d = jobDir(this.root, req.jobId);
    const pidFile = path.join(d, `${req.phase}.pid`);
    const exitFile = path.join(d, `${req.phase}.exit`);
    if (existsSync(exitFile) || existsSync(pidFile)) return; // started before: adopt
    await fsp.mkdir(d, { recursive: true });
    await fsp.mkdir(this.workdir, { recursive: true });
    await writeOnce(path.join(d, `${req.phase}.sh`), req.script, 0o700);
    await spawnWrapper(this.root, { ...req.env, SKYRUN_JOB_DIR: d, SKYRUN_PHASE: req.phase, SKYRUN_CWD: this.workdir });
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
    if (pid !== undefined) return this.pidState(d, phase, pid);
    const lock = await fsp.stat(path.join(d, `${phase}.lock`)).catch(() => undefined);
    if (!lock) return { state: 'absent' };
    return Date.now() - lock.mtimeMs > 30_000 ? { state: 'lost' } : { state: 'starting' };
  }

  /**
   * The state of a phase whose wrapper recorded `pid`: a live pid that does not look ours is
   * asked again for a moment (WRAPPER_RECHECKS: an exec empties its environment briefly). The
   * exit file is read after the pid was seen dead, never before: a wrapper writes it first.
   */
  private async pidState(d: string, phase: Phase, pid: number): Promise<PhaseState> {
    for (let i = 0; i < WRAPPER_RECHECKS; i++) {
      if (processAlive(pid) && isWrapper(pid, d, phase)) return { state: 'running', pid };
      const alive = processAlive(pid);
      const exitCode = readInt(path.join(d, `${phase}.exit`));
      if (exitCode !== undefined) return { state: 'done', exitCode };
      if (!alive) break;
      await sleep(20);
    }
    return { state: 'lost' };
  }

  async kill(jobId: number): Promise<void> {
    const d = jobDir(this.root, jobId);
    for (const phase of ['setup', 'run'] as const) {
      const pid = readInt(path.join(d, `${phase}.pid`));
      if (pid === undefined || existsSync(path.join(d, `${phase}.exit`))) continue;
      // a stale pid file may name a process that is not ours any more: leave it alone
      if (pid > 1 && processAlive(pid) && isWrapper(pid, d, phase)) await killGroup(pid);
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
