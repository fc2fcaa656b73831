/**
 * A managed job that is a pipeline (several tasks, run in order as one job): the per-task rows of
 * its state and the step from one task to the next. The managed-job workflow runs each task as
 * it runs a single job (launch, setup, run, recover per the task's job_recovery, tear down);
 * these helpers only keep the rows and reset what belongs to one task. Deterministic, no I/O.
 */
import { isManagedTerminal, pipelineClusterName, type ManagedJobState } from '../core/managed';
import type { JobRequest } from '../core/cluster';
import type { ManagedJobInput } from './contract';

function taskIdOf(input: ManagedJobInput, index: number): string {
  return `skyrun-managed-${input.id}_${input.name}-${index}`;
}

/** The state fields a pipeline starts with: task 0's cluster and id, and a PENDING row per task. */
export function pipelineStart(input: ManagedJobInput): Partial<ManagedJobState> {
  const tasks = input.tasks ?? [];
  return {
    clusterName: pipelineClusterName(input.id, 0, tasks[0]?.name ?? input.name),
    taskId: taskIdOf(input, 0),
    taskIndex: 0,
    firstAttempt: 0,
    tasks: tasks.map((t, i) => ({
      name: t.name,
      status: 'PENDING',
      resources: '',
      jobDurationMs: 0,
      recoveries: 0,
      numNodes: t.numNodes,
      ...(i === 0 ? { firstAttempt: 0 } : {}),
    })),
  };
}

/**
 * Copies the current task's figures into its row. Once the job ends without success, the tasks
 * that never started are CANCELLED (as SkyPilot shows them).
 */
export function syncPipelineRow(s: ManagedJobState): void {
  const i = s.taskIndex ?? 0;
  const row = s.tasks?.[i];
  if (!row) return;
  row.status = s.status;
  row.resources = s.resources;
  row.startedAt = s.startedAt;
  row.endedAt = s.endedAt;
  row.jobDurationMs = s.jobDurationMs;
  row.runningSince = s.runningSince;
  row.recoveries = s.recoveries;
  row.failureReason = s.failureReason;
  if (isManagedTerminal(s.status) && s.status !== 'SUCCEEDED') {
    for (const later of s.tasks!.slice(i + 1)) if (later.status === 'PENDING') later.status = 'CANCELLED';
  }
}

/**
 * After the current task succeeded (its cluster torn down): close its row and make the next task
 * the current one, with its own cluster, task id, recovery budget and figures. False when the
 * task was the last (the job then SUCCEEDED).
 */
export function advancePipeline(s: ManagedJobState, input: ManagedJobInput): boolean {
  const i = s.taskIndex ?? 0;
  const next = input.tasks?.[i + 1];
  if (!next) return false;
  const row = s.tasks![i]!;
  Object.assign(row, { status: 'SUCCEEDED', endedAt: Date.now() });
  syncPipelineRow({ ...s, status: 'SUCCEEDED', endedAt: row.endedAt });
  s.taskIndex = i + 1;
  s.firstAttempt = s.attempt;
  s.tasks![i + 1]!.firstAttempt = s.attempt;
  s.clusterName = pipelineClusterName(input.id, i + 1, next.name);
  s.taskId = taskIdOf(input, i + 1);
  s.status = 'PENDING';
  s.resources = '';
  s.startedAt = undefined;
  s.endedAt = undefined;
  s.jobDurationMs = 0;
  s.runningSince = undefined;
  s.recoveries = 0;
  s.restarts = 0;
  s.stage = 'launch';
  s.lastRegion = undefined;
  s.blocks = [];
  s.preferRegion = undefined;
  s.failureReason = undefined;
  s.exitCode = undefined;
  s.attempts = [];
  return true;
}

/** Task `index`'s job, with SKYPILOT_TASK_IDS: every task's SKYPILOT_TASK_ID, in order, comma-separated. */
export function pipelineJob(input: ManagedJobInput, index: number): JobRequest {
  const job = input.tasks![index]!.job;
  const ids = input.tasks!.map((_, i) => taskIdOf(input, i)).join(',');
  return { ...job, envs: { ...job.envs, SKYPILOT_TASK_IDS: ids, SKYRUN_TASK_IDS: ids } };
}

/** The secret values of every task (the log of any of them is redacted with them all). */
export function secretsOf(input: ManagedJobInput): Record<string, string> {
  if (!input.tasks) return input.job.secrets ?? {};
  return Object.assign({}, ...input.tasks.map((t) => t.job.secrets ?? {})) as Record<string, string>;
}
