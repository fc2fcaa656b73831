/** Managed jobs: their states (as SkyPilot users know them), input and durable state. */
import type { ClusterHandle, JobRequest, ProvisionAttempt } from './cluster';
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
}

/** The CLI's exit code for a managed job's final status (SkyPilot's JobExitCode). */
export function managedExitCode(s: ManagedJobStatus): number {
  if (s === 'SUCCEEDED') return 0;
  if (s === 'CANCELLED') return 103;
  return isManagedTerminal(s) ? 100 : 101;
}
