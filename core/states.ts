/** Cluster and job states as SkyPilot users know them, and the CLI's exit codes. */

export type ClusterStatus = 'INIT' | 'UP' | 'STOPPED' | 'TERMINATING' | 'TERMINATED';

/** Workflow phase, also the Phase search attribute. */
export type Phase =
  'Optimizing' | 'Provisioning' | 'Up' | 'Stopped' | 'CleaningUp' | 'CleanupBlocked' | 'Terminated' | 'Failed';

export type JobStatus =
  'PENDING' | 'SETTING_UP' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'FAILED_SETUP' | 'FAILED_DRIVER' | 'CANCELLED';

export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'FAILED_SETUP',
  'FAILED_DRIVER',
  'CANCELLED',
];

export function isTerminal(s: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(s);
}

/**
 * Exit codes of `skyrun launch/exec/logs`. 0-103 are SkyPilot's JobExitCode values; the
 * others are SkyRun's own and documented in the README.
 */
export const ExitCode = {
  SUCCEEDED: 0,
  /** launch/provisioning/usage errors that are not about the input */
  ERROR: 1,
  /** invalid input: a task file or flag that fails validation, or a feature not supported yet */
  INVALID_INPUT: 2,
  FAILED: 100,
  NOT_FINISHED: 101,
  NOT_FOUND: 102,
  CANCELLED: 103,
} as const;

export function exitCodeForJob(s: JobStatus | undefined): number {
  switch (s) {
    case undefined:
      return ExitCode.NOT_FOUND;
    case 'SUCCEEDED':
      return ExitCode.SUCCEEDED;
    case 'CANCELLED':
      return ExitCode.CANCELLED;
    case 'FAILED':
    case 'FAILED_SETUP':
    case 'FAILED_DRIVER':
      return ExitCode.FAILED;
    default:
      return ExitCode.NOT_FINISHED;
  }
}
