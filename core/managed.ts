/** Managed jobs: their states (as SkyPilot users know them), input and durable state. */
import type { ClusterHandle, JobRequest, ProvisionAttempt } from './cluster';
import { managedClusterName } from './names';
import type { Block } from './offers';
import type { JobRecoverySpec, Resources } from './task';

export type ManagedJobStatus =
  | 'PENDING'
  | 'STARTING'
  | 'RUNNING'
  | 'RECOVERING'
  | 'CANCELLING'
  | 'SUCCEEDED'
  | 'CANCELLED'
  | 'FAILED'
  | 'FAILED_SETUP'
  | 'FAILED_PRECHECKS'
  | 'FAILED_NO_RESOURCE'
  | 'FAILED_CONTROLLER';

export const TERMINAL_MANAGED: readonly ManagedJobStatus[] = [
  'SUCCEEDED',
  'CANCELLED',
  'FAILED',
  'FAILED_SETUP',
  'FAILED_PRECHECKS',
  'FAILED_NO_RESOURCE',
  'FAILED_CONTROLLER',
];

export function isManagedTerminal(s: ManagedJobStatus): boolean {
  return TERMINAL_MANAGED.includes(s);
}

export const DEFAULT_RECOVERY: JobRecoverySpec = {
  strategy: 'EAGER_NEXT_REGION',
  maxRestartsOnErrors: 0,
  recoverOnExitCodes: [],
};

/** One event in the job's life: a recovery, a restart, a failure. */
export interface ManagedJobEvent {
  at: number;
  kind: 'launched' | 'preempted' | 'recovering' | 'restart' | 'failed' | 'succeeded' | 'cancelled';
  detail: string;
  /** a pipeline's: the task it happened to */
  task?: number;
}

/** The compact, durable state: carried across continue-as-new, shown by `skyrun jobs queue`. */
export interface ManagedJobState {
  id: number;
  name: string;
  status: ManagedJobStatus;
  resources: string;
  submittedAt: number;
  startedAt?: number;
  endedAt?: number;
  /** time the user's job has run, summed over attempts */
  jobDurationMs: number;
  runningSince?: number;
  recoveries: number;
  restarts: number;
  /** 1, 2, ...: one per cluster the job ran on (the job id on that cluster) */
  attempt: number;
  taskId: string;
  clusterName: string;
  handle?: ClusterHandle;
  /** where the current attempt is: launching, setting up or running */
  stage: 'launch' | 'setup' | 'run' | 'done';
  lastRegion?: string;
  /** for the next launch: the region that preempted (EAGER_NEXT_REGION) */
  blocks: Block[];
  /** for the next launch: the region to try first (FAILOVER) */
  preferRegion?: string;
  failureReason?: string;
  exitCode?: number;
  events: ManagedJobEvent[];
  attempts: ProvisionAttempt[];
  /** a pipeline: the task running now (0, 1, ...) */
  taskIndex?: number;
  /** a pipeline: attempts (clusters) used by the tasks before the current one */
  firstAttempt?: number;
  /** a pipeline: one row per task, as `jobs queue` shows them */
  tasks?: ManagedTaskState[];
}

/** One task of a pipeline, as `jobs queue` shows it under its job. */
export interface ManagedTaskState {
  name: string;
  status: ManagedJobStatus;
  resources: string;
  startedAt?: number;
  endedAt?: number;
  jobDurationMs: number;
  runningSince?: number;
  recoveries: number;
  failureReason?: string;
  numNodes: number;
  /** its attempts are firstAttempt+1 ... (the next task's firstAttempt, or the job's attempt) */
  firstAttempt?: number;
}

/** The attempts (clusters, and kept logs) of task `i` of a pipeline: [from, to], both included. */
export function taskAttempts(s: Pick<ManagedJobState, 'tasks' | 'attempt'>, i: number): [number, number] {
  const t = s.tasks?.[i];
  if (!t || t.firstAttempt === undefined) return [1, 0];
  const next = s.tasks?.[i + 1]?.firstAttempt;
  return [t.firstAttempt + 1, next ?? s.attempt];
}

/** The CLI's exit code for a managed job's final status (SkyPilot's JobExitCode). */
export function managedExitCode(s: ManagedJobStatus): number {
  if (s === 'SUCCEEDED') return 0;
  if (s === 'CANCELLED') return 103;
  return isManagedTerminal(s) ? 100 : 101;
}

/** The cluster of task `index` of pipeline job `jobId`: `<job id>-<index>-<task name>`. */
export function pipelineClusterName(jobId: number, index: number, taskName: string): string {
  return managedClusterName(jobId, `${index}-${taskName}`);
}
