/**
 * One interface for running commands on a node, whatever the infra: a local process, ssh2, or
 * kubernetes exec. Jobs run detached on the node, with their pid, exit code and log in a job
 * folder there, so a worker crash does not kill them and a retried activity re-attaches.
 */
import type { GitWorkdir, JobPhase as Phase, PhaseState } from '../../../core/cluster';
import { ProviderError } from '../../../core/errors';

export type { Phase, PhaseState };

export interface DetachedStart {
  jobId: number;
  phase: Phase;
  script: string;
  env: Record<string, string>;
}

/** A bucket to mount on a node with rclone (bucket-mount.ts). */
export interface NodeMount {
  /** the mount point, absolute or `~/...` */
  remote: string;
  /** `bucket` or `bucket/prefix` */
  path: string;
  cached: boolean;
  /** the rclone config holding one remote named `skyrun` (secret) */
  config: string;
  /** a file-name-safe id of this mount (its config file's name) */
  id: string;
}

export interface Runner {
  /** Copy a local folder to the node's workdir (~/sky_workdir). */
  syncWorkdir(localDir: string): Promise<void>;
  /** Clone a git repository into the node's workdir at its ref, or update a clone there (git-workdir.ts). */
  cloneWorkdir(git: GitWorkdir): Promise<void>;
  /** A file_mounts entry: a local file or folder to `~/...` or an absolute path on the node. */
  syncPath(localPath: string, remotePath: string): Promise<void>;
  /** A bucket mounted with FUSE (bucket-mount.ts); absent where SkyRun cannot mount yet (local nodes). */
  mountBucket?(m: NodeMount): Promise<void>;
  /** Start a phase detached; starting an already started phase adopts it (exactly once). */
  startDetached(req: DetachedStart): Promise<void>;
  phaseState(jobId: number, phase: Phase): Promise<PhaseState>;
  /** The phase's state once it has ended, or after `ms` at most: one wait on the node (waitForPhase). */
  waitPhase?(jobId: number, phase: Phase, ms: number): Promise<PhaseState>;
  /** Kill the job's process trees (every phase); idempotent. */
  kill(jobId: number): Promise<void>;
  /** Kill every job on the node (teardown); idempotent. */
  killAll(): Promise<void>;
  /** Read the job's log from a byte offset. */
  readLog(jobId: number, offset: number, maxBytes?: number): Promise<{ data: Buffer; offset: number }>;
}

/**
 * How often a phase state check asks a live pid that does not look like the phase's wrapper
 * again, 20 ms apart, before it calls the phase lost: a process's environment (which tells a
 * wrapper from a stranger that got a stale pid file's number) reads empty while it execs.
 */
export const WRAPPER_RECHECKS = 5;

/** Linux's limit on one `NAME=value` string handed to exec (MAX_ARG_STRLEN, with its NUL). */
export const MAX_ENV_STRING = 128 * 1024;

/**
 * Values no process can be started with: a NUL byte, or one variable over MAX_ENV_STRING. The
 * message names the variable, never its value (values may be secrets).
 */
export function checkEnvValues(env: Record<string, string>): void {
  for (const [k, v] of Object.entries(env)) {
    if (v.includes('\0'))
      throw new ProviderError('invalid', `environment variable ${safeName(k)}: a value holds a NUL byte`);
    const size = Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
    if (size > MAX_ENV_STRING)
      throw new ProviderError(
        'invalid',
        `environment variable ${safeName(k)} is too large for the OS (E2BIG): ${size} bytes, at most ${MAX_ENV_STRING}`,
      );
  }
}

/** A variable's name for a message: a short printable form (a name is no secret, but may be garbage). */
export function safeName(k: string): string {
  return JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}...` : k);
}

/** A blocking wait never lasts longer than this, whatever is asked (the activity's timeouts hold). */
export const MAX_PHASE_WAIT_MS = 5000;

export function phaseEnded(s: PhaseState): boolean {
  return s.state === 'done' || s.state === 'lost';
}

/**
 * The phase's state once it has ended (done or lost), or after `ms` at most: the runner's own
 * wait on the node when it has one (one round trip), else its phaseState asked every 10 ms,
 * backing off to 100 ms.
 */
export async function waitForPhase(runner: Runner, jobId: number, phase: Phase, ms: number): Promise<PhaseState> {
  const limit = Math.min(Math.max(0, ms), MAX_PHASE_WAIT_MS);
  if (runner.waitPhase) return runner.waitPhase(jobId, phase, limit);
  const end = Date.now() + limit;
  for (let gap = 10; ; gap = Math.min(gap * 2, 100)) {
    const s = await runner.phaseState(jobId, phase);
    const left = end - Date.now();
    if (phaseEnded(s) || left <= 0) return s;
    await new Promise((r) => setTimeout(r, Math.min(gap, left)));
  }
}
