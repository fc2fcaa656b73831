/** What each workflow is started with (and carries across continue-as-new). */
import type { AutostopSetting, ClusterInfo, JobRequest } from '../../core/cluster';
import type { ManagedJobState } from '../../core/managed';
import type { JobRecoverySpec, Resources } from '../../core/task';

export interface ClusterWorkflowInput {
  name: string;
  /** when every candidate fails: wait (backing off from gapMs) and search again */
  retryUntilUp?: { gapMs: number };
  candidates: Resources[];
  ordered: boolean;
  numNodes: number;
  user: string;
  autostop?: AutostopSetting;
  /** carried across continue-as-new */
  carried?: CarriedState;
}

export interface CarriedState {
  info: ClusterInfo;
  pending: Array<{ id: number; request: JobRequest }>;
  nextJobId: number;
  idleSince: number;
  /** the kept jobs' secrets (encrypted in history: the payload holds a `secrets` map) */
  jobSecrets?: Array<{ id: number; secrets: Record<string, string> }>;
}

/** One task of a managed-job pipeline: what a single managed job gives at the top level. */
export interface ManagedTaskInput {
  name: string;
  candidates: Resources[];
  ordered: boolean;
  numNodes: number;
  job: JobRequest;
  recovery: JobRecoverySpec;
}

export interface ManagedJobInput extends ManagedTaskInput {
  id: number;
  user: string;
  /** first wait when no candidate has capacity (then backing off) */
  retryGapMs: number;
  /** a pipeline: its tasks, run in order, each on a cluster of its own (the fields above are the first's) */
  tasks?: ManagedTaskInput[];
  carried?: ManagedJobState;
}

export interface SshPoolInput {
  pool: string;
  assignments?: Record<string, string>;
}
