/**
 * Every side effect of SkyRun, as Temporal activities. Each is safe to run twice: provision
 * adopts what tags say exists, phases adopt a started process, teardown treats "gone" as done.
 */
import { Context } from '@temporalio/activity';
import { type ClusterHandle, type NodeInfo, nodesNotRunning } from '../core/cluster';
import { ProviderError } from '../core/errors';
import { jobEnv } from '../core/job-env';
import type { GitWorkdir, JobRequest } from '../core/cluster';
import { decodeBucketMount } from '../core/task/storage';
import { workflowHostLedger } from './host-ledger';
import { type Providers, createProviders } from './infra/clouds';
import {
  type InstanceState,
  type ProvisionContext,
  type ProvisionRequest,
  queryHandle,
  stopRefusal,
} from './infra/clouds/provider';
import { mapped } from './failures';
import { managedLogPath, writeManagedLog } from './infra/managed-logs';
import { optimize, type OptimizeRequest, type OptimizeResult } from './infra/optimizer';
import { runnerFor } from './infra/runners';
import { bucketsToNodes } from './infra/storage/nodes';
import { containerImageOf, withContainer } from './infra/runners/container';
import { type Phase, type PhaseState, waitForPhase } from './infra/runners/runner';

/** The worker's own environment that jobs inherit; nothing else of it leaks into a job. */
const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'TERM'];

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of INHERITED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return env;
}

async function onAllNodes<T>(handle: ClusterHandle, fn: (n: NodeInfo) => Promise<T>): Promise<T[]> {
  return Promise.all(handle.nodes.map(fn));
}

/**
 * Run `fn` while heartbeating every second: a worker that dies mid-activity is noticed at the
 * heartbeat timeout (seconds), not the start-to-close timeout, and cancels reach the activity.
 */
async function heartbeating<T>(fn: (details: { set(d: unknown): void }) => Promise<T>, everyMs = 1000): Promise<T> {
  const ctx = Context.current();
  let details: unknown;
  const timer = setInterval(() => ctx.heartbeat(details), everyMs);
  try {
    ctx.heartbeat(details);
    return await fn({ set: (d) => (details = d) });
  } finally {
    clearInterval(timer);
  }
}

export interface PhaseRequest {
  handle: ClusterHandle;
  jobId: number;
  phase: Phase;
  taskId: string;
  job: JobRequest;
}

/** What a provider may do inside an activity: report instance ids, sleep (cancellably). */
function provisionContext(details: { set(d: unknown): void }): ProvisionContext {
  const ctx = Context.current();
  return {
    heartbeat: (ids) => {
      details.set({ instanceIds: ids });
      ctx.heartbeat({ instanceIds: ids });
    },
    // rejects as soon as a cancel arrives (with a heartbeat)
    sleep: (ms) => ctx.sleep(ms),
    // shared by this activity's retries; a new attempt (or a new run) gets a new one
    attemptId: `${ctx.info.workflowExecution?.runId ?? ''}|${ctx.info.activityId}`,
  };
}

/** A job's whole log on one node. */
async function wholeLog(n: NodeInfo, jobId: number): Promise<Buffer> {
  const runner = runnerFor(n.runner);
  const chunks: Buffer[] = [];
  for (let offset = 0; ;) {
    const r = await runner.readLog(jobId, offset);
    if (!r.data.length) break;
    chunks.push(r.data);
    offset = r.offset;
  }
  return Buffer.concat(chunks);
}

/** What the activities are built from; tests pass their own. */
export interface ActivityDeps {
  providers: Providers;
}

/** The worker's dependencies: every provider, SSH pools kept by their workflows. */
export function defaultActivityDeps(): ActivityDeps {
  return { providers: createProviders({ hostLedger: workflowHostLedger() }) };
}

/** Every activity, bound to its dependencies (as in Temporal's saga sample). */
export function createActivities(deps: ActivityDeps = defaultActivityDeps()) {
  return { ...clusterActivities(deps), ...jobActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;

/** The cluster's life on its infra: optimize, provision, stop and start, query, tear down. */
function clusterActivities(deps: ActivityDeps) {
  const providerFor = (cloud: string) => deps.providers.get(cloud);
  return {
    async optimizeOffers(req: OptimizeRequest): Promise<OptimizeResult> {
      return optimize(req, { providers: deps.providers.all() });
    },

    async provision(req: ProvisionRequest): Promise<ClusterHandle> {
      return heartbeating((details) =>
        mapped(async () =>
          withContainer(await providerFor(req.offer.cloud).provision(req, provisionContext(details)), req.imageId),
        ),
      );
    },

    /** Why the cluster cannot be stopped (e.g. spot instances), or null: asked before anything changes. */
    async stopRefusal(req: { handle: ClusterHandle }): Promise<string | null> {
      return stopRefusal(providerFor(req.handle.offer.cloud), req.handle) ?? null;
    },

    /** Stop the cluster's nodes (their jobs die with them); disks, node folders and hosts stay. */
    async stopCluster(req: { handle: ClusterHandle }): Promise<void> {
      const p = providerFor(req.handle.offer.cloud);
      return heartbeating((details) =>
        mapped(async () => {
          const refusal = stopRefusal(p, req.handle);
          if (refusal) throw new ProviderError('invalid', refusal);
          await p.stop!(req.handle, provisionContext(details));
        }),
      );
    },

    /** Start a stopped cluster's nodes again: the same instances, as they are reached now. */
    async startCluster(req: { handle: ClusterHandle }): Promise<ClusterHandle> {
      const p = providerFor(req.handle.offer.cloud);
      return heartbeating((details) =>
        mapped(async () => {
          if (!p.start) throw new ProviderError('invalid', `Starting is not supported on ${p.name}`);
          // docker mode carries over: the same container, adopted or started again by the next phase
          return withContainer(await p.start(req.handle, provisionContext(details)), containerImageOf(req.handle));
        }),
      );
    },

    async teardown(req: { cloud: string; clusterName: string }): Promise<void> {
      return heartbeating(() => mapped(() => providerFor(req.cloud).terminate(req.clusterName)));
    },

    /** `region`: the handle's, so that the provider asks only there */
    async instanceStates(req: { cloud: string; clusterName: string; region?: string }): Promise<InstanceState[]> {
      return mapped(() =>
        providerFor(req.cloud).query(req.clusterName, req.region ? { regions: [req.region] } : undefined),
      );
    },
  };
}

export interface SyncRequest {
  handle: ClusterHandle;
  workdir?: string | GitWorkdir;
  fileMounts?: Record<string, string>;
}

/**
 * The job's workdir (a local folder, or a git repository cloned on the node) and local file_mounts,
 * to every node in parallel, then its buckets (COPY, MOUNT, MOUNT_CACHED) as SkyPilot orders them.
 * A git workdir's credentials stay out of failures.
 */
async function syncJobFiles(req: SyncRequest): Promise<void> {
  const { workdir } = req;
  const secrets = typeof workdir === 'object' ? Object.values(workdir.secrets ?? {}) : [];
  await heartbeating(() =>
    mapped(
      () =>
        onAllNodes(req.handle, async (n) => {
          const runner = runnerFor(n.runner);
          if (typeof workdir === 'string') await runner.syncWorkdir(workdir);
          else if (workdir) await runner.cloneWorkdir(workdir);
          for (const [remote, local] of Object.entries(req.fileMounts ?? {}))
            if (!decodeBucketMount(remote, local)) await runner.syncPath(local, remote);
        }),
      { secrets },
    ),
  );
  const buckets = Object.entries(req.fileMounts ?? {}).flatMap(([r, v]) => decodeBucketMount(r, v) ?? []);
  if (buckets.length) {
    const runners = req.handle.nodes.map((n) => runnerFor(n.runner));
    await heartbeating(() => mapped(() => bucketsToNodes(buckets, runners)));
  }
}

/**
 * The phase's state on every node once it has ended there, or after `waitMs` (at most
 * MAX_PHASE_WAIT_MS): a short phase's end reaches the workflow as it happens, not after a poll
 * interval. It heartbeats often: a worker killed meanwhile is noticed at a short heartbeat
 * timeout (workflows/proxies.ts waitActs), and a cancel ends the wait.
 */
async function waitPhase(req: {
  handle: ClusterHandle;
  jobId: number;
  phase: Phase;
  waitMs: number;
}): Promise<PhaseState[]> {
  const ctx = Context.current();
  const wait = onAllNodes(req.handle, (n) => waitForPhase(runnerFor(n.runner), req.jobId, req.phase, req.waitMs));
  return heartbeating(() => Promise.race([wait, ctx.cancelled]), 250);
}

/** A job on the cluster's nodes: sync, start a phase, watch it, save its log, kill it. */
function jobActivities(deps: ActivityDeps) {
  const providerFor = (cloud: string) => deps.providers.get(cloud);
  return {
    /** The job's workdir, local file_mounts and buckets (copied or mounted), to every node. */
    syncWorkdir: syncJobFiles,

    /**
     * Start a phase on every node. What can never start (an env the OS refuses, a NUL byte) fails
     * for good, as `invalid`; other errors retry. No failure carries a secret value.
     */
    async startPhase(req: PhaseRequest): Promise<void> {
      const script = req.phase === 'setup' ? req.job.setup : req.job.run;
      const secrets = Object.values(req.job.secrets ?? {});
      await mapped(
        () =>
          onAllNodes(req.handle, (n) =>
            runnerFor(n.runner).startDetached({
              jobId: req.jobId,
              phase: req.phase,
              script: script ?? 'true',
              // a local node inherits this machine's basics; a remote one has its own HOME, PATH, ...
              env: {
                ...(n.runner.kind === 'local' ? baseEnv() : {}),
                ...jobEnv(req.handle, n.rank, req.job, req.taskId, req.phase),
              },
            }),
          ),
        { secrets, unknownRetries: true },
      );
    },

    async phaseStatus(req: { handle: ClusterHandle; jobId: number; phase: Phase }): Promise<PhaseState[]> {
      return onAllNodes(req.handle, (n) => runnerFor(n.runner).phaseState(req.jobId, req.phase));
    },

    waitPhase,

    /**
     * One watch tick of a managed job: whether the infra still runs the nodes and, if it does,
     * the phase's state on each. One activity instead of two halves the load of watching.
     */
    async watchPhase(req: {
      handle: ClusterHandle;
      jobId: number;
      phase: Phase;
    }): Promise<{ goneNodes: string[]; states: PhaseState[] }> {
      const instances = await mapped(() => queryHandle(providerFor(req.handle.offer.cloud), req.handle));
      const goneNodes = nodesNotRunning(req.handle, instances);
      if (goneNodes.length) return { goneNodes, states: [] };
      return {
        goneNodes,
        states: await onAllNodes(req.handle, (n) => runnerFor(n.runner).phaseState(req.jobId, req.phase)),
      };
    },

    /** Copy a job's log from every node to SKYRUN_HOME/managed-jobs/<id>/ (kept after teardown). */
    async saveJobLog(req: { handle: ClusterHandle; jobId: number; managedJobId: number }): Promise<void> {
      await onAllNodes(req.handle, async (n) => {
        const log = await wholeLog(n, req.jobId);
        await writeManagedLog(managedLogPath(req.managedJobId, req.jobId, n.rank), log);
      });
    },

    async cancelJob(req: { handle: ClusterHandle; jobId: number }): Promise<void> {
      await onAllNodes(req.handle, (n) => runnerFor(n.runner).kill(req.jobId));
    },
  };
}
