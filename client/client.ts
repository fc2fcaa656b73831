/**
 * The typed SkyRun client the CLI and the HTTP API share: launch, exec, status, queue, cancel,
 * down, stop, start, autostop, all through the cluster workflow's updates and queries.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { assertClusterName, assertName } from '../core/names';
import {
  Client,
  Connection,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateStage,
  type WorkflowHandle,
} from '@temporalio/client';
import type { AutostopSetting, ClusterInfo, JobRequest, SubmitJobResult } from '../core/cluster';
import { DEFAULT_RECOVERY, type ManagedJobState, type ManagedJobStatus } from '../core/managed';
import type { ClusterWorkflowInput, ManagedJobInput, ManagedTaskInput } from '../workflows/contract';
import { SA, TASK_QUEUE, clusterWorkflowId, managedJobWorkflowId } from '../workflows/contract';
import type { JobStatus } from '../core/states';
import type { TaskSpec } from '../core/task';
import { gitWorkdir } from './git-credentials';
import { bucketMounts, encodeBucketMount, isBucketUri } from '../core/task/storage';
import {
  cancelJobUpdate,
  cancelManagedJobUpdate,
  downUpdate,
  jobSecretsQuery,
  managedJobQuery,
  managedJobSecretsQuery,
  pokeSignal,
  setAutostopUpdate,
  startUpdate,
  statusQuery,
  stopUpdate,
  submitJobUpdate,
} from '../workflows/contract';
import { dataConverter } from '../worker/runtime/codec';
import { serverSettings } from '../worker/runtime/config';

export class ClusterNotFoundError extends Error {
  constructor(readonly cluster: string) {
    super(`Cluster '${cluster}' does not exist.`);
  }
}

/** TEMPORAL_ADDRESS (or the envconfig profile's) does not answer: what was tried, and what to try. */
export class ServerUnreachableError extends Error {
  constructor(address: string, why: string) {
    super(
      `Cannot reach the Temporal server at ${address} (TEMPORAL_ADDRESS / TEMPORAL_PROFILE): ${why}\n` +
        `  Is it running, and is the address right? For the embedded server on this machine, unset ` +
        `TEMPORAL_ADDRESS (and TEMPORAL_PROFILE) and run 'skyrun server start'.`,
    );
  }
}

/** How long connecting to a server elsewhere may take (SKYRUN_CONNECT_TIMEOUT_SECONDS, default 3). */
function connectTimeoutMs(): number {
  const s = Number(process.env.SKYRUN_CONNECT_TIMEOUT_SECONDS);
  return (s > 0 ? s : 3) * 1000;
}

/** A down (or a launch) whose teardown keeps failing: SkyRun retries, the caller should not wait. */
export class CleanupBlockedError extends Error {
  constructor(
    readonly cluster: string,
    readonly reason: string | undefined,
  ) {
    super(
      `Cluster '${cluster}': cleanup is blocked: ${reason ?? 'the teardown keeps failing'}\n` +
        `  SkyRun keeps retrying in the background (skyrun status ${cluster} shows it); fix the cause ` +
        `(credentials, permissions, the infra's state) and run 'skyrun down ${cluster}' again to wait for it.`,
    );
  }
}

export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

/** The job a task asks for; secrets travel only inside encrypted payloads. */
export function jobRequest(task: TaskSpec, opts: { setup: boolean }): JobRequest {
  const defined = (m: Record<string, string | null>) =>
    Object.fromEntries(Object.entries(m).filter((e): e is [string, string] => e[1] !== null));
  const acc = task.candidates[0]?.accelerator;
  return {
    name: task.name,
    setup: opts.setup ? task.setup : undefined,
    run: task.run,
    workdir: typeof task.workdir === 'string' ? path.resolve(task.workdir) : gitWorkdir(task),
    fileMounts: {
      ...Object.fromEntries(
        Object.entries(task.fileMounts).flatMap(([remote, src]) =>
          typeof src === 'string' && !isBucketUri(src) ? [[remote, path.resolve(src)]] : [],
        ),
      ),
      // buckets travel encoded beside the local paths (core/task/storage.ts)
      ...Object.fromEntries(bucketMounts(task).mounts.map((m) => [m.remote, encodeBucketMount(m)])),
    },
    envs: defined(task.envs),
    secrets: defined(task.secrets),
    numGpusPerNode: acc ? acc.count : 0,
    cpuDemand: 0.5,
  };
}

/** What a managed job (or a pipeline's task) runs: the task's resources, job and job_recovery. */
function managedTask(task: TaskSpec, name: string): ManagedTaskInput {
  return {
    name,
    candidates: task.candidates,
    ordered: task.ordered,
    numNodes: task.numNodes,
    job: jobRequest(task, { setup: true }),
    recovery: task.candidates[0]?.jobRecovery ?? DEFAULT_RECOVERY,
  };
}

export interface LaunchOptions {
  cluster: string;
  autostop?: AutostopSetting;
  /** keep searching when every candidate fails (SkyPilot's --retry-until-up) */
  retryUntilUp?: boolean;
}

/** How a launch starts the cluster's workflow (one per name, ever: an existing one is used as it is). */
function clusterStartOptions(task: TaskSpec, opts: LaunchOptions) {
  assertName(opts.cluster, 'cluster name');
  const input: ClusterWorkflowInput = {
    name: opts.cluster,
    candidates: task.candidates,
    ordered: task.ordered,
    numNodes: task.numNodes,
    user: currentUser(),
    autostop: opts.autostop,
    retryUntilUp: opts.retryUntilUp ? { gapMs: retryGapMs() } : undefined,
  };
  return {
    workflowId: clusterWorkflowId(opts.cluster),
    taskQueue: TASK_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    typedSearchAttributes: [
      { key: SA.SkyrunKind, value: 'cluster' },
      { key: SA.ClusterName, value: opts.cluster },
      { key: SA.User, value: input.user },
      { key: SA.Phase, value: 'Optimizing' },
    ],
    staticSummary: `cluster ${opts.cluster}: ${task.numNodes} node(s)${task.name ? `, task ${task.name}` : ''}`,
  };
}

/** The first wait of --retry-until-up (SkyPilot waits 30 s, then backs off). */
function retryGapMs(): number {
  return Number(process.env.SKYRUN_RETRY_UNTIL_UP_GAP_SECONDS || 30) * 1000;
}

/** One row per managed job: the latest run of each (earlier runs continued as new). */
const MANAGED_JOBS = `SkyrunKind = 'managed-job' AND ExecutionStatus != 'ContinuedAsNew'`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Queries go to the worker that last ran the workflow (its sticky queue). When that worker was
 * killed, the server sends them to the shared queue only after a few seconds, so retry.
 */
async function queryWithRetry<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    try {
      return await fn();
    } catch (e) {
      const name = (e as Error)?.name;
      if (name === 'WorkflowNotFoundError' || name === 'QueryNotRegisteredError' || Date.now() > end) throw e;
      await sleep(delay);
    }
  }
}

export class SkyrunClient {
  private constructor(
    readonly client: Client,
    readonly connection: Connection,
  ) {}

  /** Connect; with the embedded default, start the dev server and worker first if needed. */
  static async connect(opts: { log?: (m: string) => void; needWorker?: boolean } = {}): Promise<SkyrunClient> {
    const settings = serverSettings();
    if (settings.embedded) {
      // loaded only here: printing help or validating a file needs none of it
      const embedded = await import('../worker/runtime/embedded');
      const { started, status } = await embedded.startServer(opts.log ?? (() => {}));
      if (started)
        opts.log?.(
          `Started the Temporal dev server on ${settings.address}${status.uiUrl ? ` (UI: ${status.uiUrl})` : ''}`,
        );
      if (opts.needWorker !== false) await embedded.ensureWorker();
    }
    const connection = await Connection.connect({
      // a server elsewhere that does not answer fails fast (SDK default: 10 s), naming its address
      connectTimeout: settings.embedded ? undefined : connectTimeoutMs(),
      ...(settings.connectionOptions as Parameters<typeof Connection.connect>[0]),
    }).catch((e: Error) => {
      throw settings.embedded ? e : new ServerUnreachableError(settings.address, e.message);
    });
    const client = new Client({ connection, namespace: settings.namespace, dataConverter: dataConverter() });
    return new SkyrunClient(client, connection);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  handle(cluster: string): WorkflowHandle {
    assertClusterName(cluster);
    return this.client.workflow.getHandle(clusterWorkflowId(cluster));
  }

  /** Create the cluster if missing (one workflow per name, ever) and queue the task's job. */
  async launch(task: TaskSpec, opts: LaunchOptions): Promise<SubmitJobResult> {
    const startOp = new WithStartWorkflowOperation('clusterWorkflow', clusterStartOptions(task, opts));
    const result = await this.client.workflow.executeUpdateWithStart(submitJobUpdate, {
      args: [jobRequest(task, { setup: true })],
      startWorkflowOperation: startOp,
    });
    if (opts.autostop) await this.handle(opts.cluster).executeUpdate(setAutostopUpdate, { args: [opts.autostop] });
    return result;
  }

  /** Create the cluster if missing, without a job (a task with neither run nor setup); it provisions on start. */
  async provision(task: TaskSpec, opts: LaunchOptions): Promise<void> {
    await this.client.workflow.start('clusterWorkflow', clusterStartOptions(task, opts));
    if (opts.autostop) await this.handle(opts.cluster).executeUpdate(setAutostopUpdate, { args: [opts.autostop] });
  }

  private async onCluster<T>(cluster: string, fn: (h: WorkflowHandle) => Promise<T>): Promise<T> {
    try {
      return await fn(this.handle(cluster));
    } catch (e) {
      if (e instanceof WorkflowNotFoundError || (e as Error)?.name === 'WorkflowNotFoundError') {
        throw new ClusterNotFoundError(cluster);
      }
      throw e;
    }
  }

  async exec(cluster: string, task: TaskSpec): Promise<SubmitJobResult> {
    return this.onCluster(cluster, (h) =>
      h.executeUpdate(submitJobUpdate, { args: [jobRequest(task, { setup: false })] }),
    );
  }

  /** The cluster's state, or undefined when no workflow of that name runs. */
  async info(cluster: string, opts: { includeClosed?: boolean } = {}): Promise<ClusterInfo | undefined> {
    try {
      const h = this.handle(cluster);
      if (!opts.includeClosed) {
        const d = await h.describe();
        if (d.status.name !== 'RUNNING') return undefined;
      }
      return await queryWithRetry(() => h.query(statusQuery));
    } catch (e) {
      if (e instanceof WorkflowNotFoundError || (e as Error)?.name === 'WorkflowNotFoundError') return undefined;
      throw e;
    }
  }

  /** The running cluster workflows (all users), from visibility, then each one's state. */
  async list(names?: string[]): Promise<ClusterInfo[]> {
    const ids: string[] = [];
    for await (const wf of this.client.workflow.list({
      query: `SkyrunKind = 'cluster' AND ExecutionStatus = 'Running'`,
    })) {
      ids.push(wf.workflowId);
    }
    const wanted = ids
      .map((id) => id.replace(/^cluster\//, ''))
      .filter((n) => !names?.length || names.includes(n))
      .sort();
    const infos = await Promise.all(wanted.map((n) => this.info(n, { includeClosed: true }).catch(() => undefined)));
    return infos.filter((i): i is ClusterInfo => !!i && i.status !== 'TERMINATED');
  }

  async cancel(cluster: string, jobId: number): Promise<JobStatus> {
    return this.onCluster(cluster, (h) => h.executeUpdate(cancelJobUpdate, { args: [jobId] }));
  }

  /**
   * Tear the cluster down and wait until it is gone, or until its cleanup is blocked (the
   * teardown keeps failing): then throw CleanupBlockedError with the last error instead of waiting.
   */
  async down(cluster: string): Promise<void> {
    await this.onCluster(cluster, async (h) => {
      const d = await h.describe();
      if (d.status.name !== 'RUNNING') throw new ClusterNotFoundError(cluster);
      const update = await h.startUpdate(downUpdate, { waitForStage: WorkflowUpdateStage.ACCEPTED });
      let finished = false;
      const done = update.result().finally(() => (finished = true));
      done.catch(() => undefined); // awaited below, unless cleanup is blocked first
      for (;;) {
        await Promise.race([done, sleep(500)]);
        if (finished) return done;
        const info = await this.info(cluster, { includeClosed: true });
        if (info?.phase === 'CleanupBlocked') throw new CleanupBlockedError(cluster, info.cleanupError);
      }
    });
  }

  /** A job's secret values (for redacting its log); the answer is encrypted with the deployment key. */
  async jobSecrets(cluster: string, jobId: number): Promise<string[]> {
    const r = await this.onCluster(cluster, (h) => queryWithRetry(() => h.query(jobSecretsQuery, jobId)));
    return Object.values(r.secrets ?? {});
  }

  async stop(cluster: string): Promise<void> {
    await this.onCluster(cluster, (h) => h.executeUpdate(stopUpdate));
  }

  async start(cluster: string): Promise<void> {
    await this.onCluster(cluster, (h) => h.executeUpdate(startUpdate));
  }

  async setAutostop(cluster: string, a: AutostopSetting | null): Promise<void> {
    await this.onCluster(cluster, (h) => h.executeUpdate(setAutostopUpdate, { args: [a] }));
  }

  async poke(cluster: string): Promise<void> {
    await this.onCluster(cluster, (h) => h.signal(pokeSignal));
  }

  // ---- managed jobs ------------------------------------------------------------------------

  /**
   * Start a managed job. Ids are 1, 2, ...: the next one after those that exist; Temporal's
   * workflow-id uniqueness settles a race between two submits (the loser takes the next id).
   */
  async launchManaged(task: TaskSpec, opts: { name?: string } = {}): Promise<{ id: number; name: string }> {
    const name = opts.name ?? task.name ?? 'job';
    assertName(name, 'managed job name');
    const recovery = task.candidates[0]?.jobRecovery ?? DEFAULT_RECOVERY;
    return this.startManaged(
      name,
      { ...managedTask(task, name), recovery },
      `${task.numNodes} node(s), ${recovery.strategy}`,
    );
  }

  /**
   * Start a pipeline as one managed job: its tasks run in order, each on a cluster of its own.
   * `names` are the job's and each task's (see pipelineNames).
   */
  async launchPipeline(
    tasks: TaskSpec[],
    names: { job: string; tasks: string[] },
  ): Promise<{ id: number; name: string }> {
    assertName(names.job, 'managed job name');
    const inputs = tasks.map((t, i) => {
      assertName(names.tasks[i]!, 'pipeline task name');
      return managedTask(t, names.tasks[i]!);
    });
    return this.startManaged(names.job, { ...inputs[0]!, tasks: inputs }, `pipeline of ${tasks.length} tasks`);
  }

  /**
   * Ids are 1, 2, ...: the next one after those that exist; Temporal's workflow-id uniqueness
   * settles a race between two submits (the loser takes the next id).
   */
  private async startManaged(
    name: string,
    what: Omit<ManagedJobInput, 'id' | 'user' | 'retryGapMs'>,
    summary: string,
  ): Promise<{ id: number; name: string }> {
    let id = (await this.client.workflow.count(MANAGED_JOBS)).count + 1;
    for (let tries = 0; ; tries++, id++) {
      const input: ManagedJobInput = { id, ...what, name, user: currentUser(), retryGapMs: retryGapMs() };
      try {
        await this.client.workflow.start('managedJobWorkflow', {
          workflowId: managedJobWorkflowId(id),
          taskQueue: TASK_QUEUE,
          args: [input],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
          typedSearchAttributes: [
            { key: SA.SkyrunKind, value: 'managed-job' },
            { key: SA.ClusterName, value: `${name}-${id}` },
            { key: SA.User, value: input.user },
            { key: SA.Phase, value: 'PENDING' },
            { key: SA.Recoveries, value: 0 },
          ],
          memo: { job: { id, name, status: 'PENDING', submittedAt: Date.now(), recoveries: 0, jobDurationMs: 0 } },
          staticSummary: `managed job ${id} (${name}): ${summary}`,
        });
        return { id, name };
      } catch (e) {
        if (!(e instanceof WorkflowExecutionAlreadyStartedError) || tries > 50) throw e;
      }
    }
  }

  /** Managed jobs as `jobs queue` lists them, newest first, from visibility (no worker needed). */
  async listManaged(): Promise<Array<Partial<ManagedJobState> & { id: number }>> {
    const out: Array<Partial<ManagedJobState> & { id: number }> = [];
    for await (const wf of this.client.workflow.list({ query: MANAGED_JOBS })) {
      const job = (wf.memo?.job ?? {}) as Partial<ManagedJobState>;
      const id = Number(wf.workflowId.split('/')[1]);
      out.push({ ...job, id, status: job.status ?? (wf.status.name === 'RUNNING' ? 'PENDING' : 'FAILED_CONTROLLER') });
    }
    return out.sort((a, b) => b.id - a.id);
  }

  /** A managed job's secret values (for redacting its log); [] when they cannot be had. */
  async managedJobSecrets(id: number): Promise<string[]> {
    try {
      const h = this.client.workflow.getHandle(managedJobWorkflowId(id));
      const r = await queryWithRetry(() => h.query(managedJobSecretsQuery, id));
      return Object.values(r.secrets ?? {});
    } catch {
      return [];
    }
  }

  async managedJob(id: number): Promise<ManagedJobState | undefined> {
    try {
      return await queryWithRetry(() =>
        this.client.workflow.getHandle(managedJobWorkflowId(id)).query(managedJobQuery),
      );
    } catch (e) {
      if ((e as Error)?.name === 'WorkflowNotFoundError') return undefined;
      throw e;
    }
  }

  async cancelManaged(id: number): Promise<ManagedJobStatus> {
    return this.client.workflow.getHandle(managedJobWorkflowId(id)).executeUpdate(cancelManagedJobUpdate);
  }

  /** The workflow's failure, when it closed with one. */
  async failure(cluster: string): Promise<Error | undefined> {
    try {
      await this.handle(cluster).result();
      return undefined;
    } catch (e) {
      return e as Error;
    }
  }
}

export { WorkflowExecutionAlreadyStartedError };
