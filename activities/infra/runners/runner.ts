/**
 * One interface for running commands on a node, whatever the infra: a local process, ssh2, or
 * kubernetes exec. Jobs run detached on the node, with their pid, exit code and log in a job
 * folder there, so a worker crash does not kill them and a retried activity re-attaches.
 */
import type { JobPhase as Phase, PhaseState } from '../../../core/cluster';

export type { Phase, PhaseState };

export interface DetachedStart {
  jobId: number;
  phase: Phase;
  script: string;
  env: Record<string, string>;
}

export interface Runner {
  /** Copy a local folder to the node's workdir (~/sky_workdir). */
  syncWorkdir(localDir: string): Promise<void>;
  /** A file_mounts entry: a local file or folder to `~/...` or an absolute path on the node. */
  syncPath(localPath: string, remotePath: string): Promise<void>;
  /** Start a phase detached; starting an already started phase adopts it (exactly once). */
  startDetached(req: DetachedStart): Promise<void>;
  phaseState(jobId: number, phase: Phase): Promise<PhaseState>;
  /** Kill the job's process trees (every phase); idempotent. */
  kill(jobId: number): Promise<void>;
  /** Kill every job on the node (teardown); idempotent. */
  killAll(): Promise<void>;
  /** Read the job's log from a byte offset. */
  readLog(jobId: number, offset: number, maxBytes?: number): Promise<{ data: Buffer; offset: number }>;
}
