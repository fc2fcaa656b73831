/**
 * The cluster workflow, one per cluster (id `cluster/<name>`): an entity that optimizes,
 * provisions with failover, then serves its job queue through updates and queries until it is
 * downed. Autostop is a durable timer; it continues-as-new when the server suggests it.
 *
 * size: one entity, as in Temporal's safe-message-handlers sample: its state, the handlers that
 * change it and the loop that serves them share one class; split, the state machine would be spread over files.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  AutostopSetting,
  ClusterHandle,
  ClusterInfo,
  JobRecord,
  JobRequest,
  SubmitJobResult,
} from '../core/cluster';
import { FailureTypes } from '../core/errors';
import { validateClusterName } from '../core/names';
import { offerLabel } from '../core/offers';
import { type ClusterWorkflowInput, SA } from './contract';
import { isTerminal, type JobStatus, type Phase } from '../core/states';
import {
  cancelJobUpdate,
  downUpdate,
  jobSecretsQuery,
  pokeSignal,
  setAutostopUpdate,
  startUpdate,
  statusQuery,
  stopUpdate,
  submitJobUpdate,
} from './contract';
import { type PhaseOutcome, runPhase } from './job-exec';
import { type Compensation, runCompensations, searchAndProvision } from './provision';
import { acts, statusActs, stopStartActs, syncActs } from './proxies';

/** An activity failure's own message (the cause's), for an update to fail with. */
function failureMessage(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string } };
  return err?.cause?.message ?? err?.message ?? String(e);
}

/** Finished jobs kept in state (and carried across continue-as-new). */
const KEPT_JOBS = 1000;
const MAX_POLL_MS = 30_000;
/** How long a cancel or a down lets a killed job end on its own before it stops the job's activities. */
const KILL_GRACE_MS = 10_000;
/** Killing a job's processes tries a few times: a node that cannot be reached must not hold a cancel or a down. */
const KILL_RETRY = { maximumAttempts: 3, initialInterval: '1s', maximumInterval: '5s' } as const;

function describeJob(req: JobRequest): string {
  return req.numGpusPerNode ? `${req.numGpusPerNode} GPU` : `${req.cpuDemand} CPU`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

function runTimestamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}-${pad(d.getUTCHours())}-${pad(
    d.getUTCMinutes(),
  )}-${pad(d.getUTCSeconds())}-${pad(d.getUTCMilliseconds(), 3)}`;
}

class Cluster {
  info: ClusterInfo;
  pending: Array<{ id: number; request: JobRequest }>;
  running = new Map<number, JobRequest>();
  cancelRequested = new Set<number>();
  nextJobId: number;
  idleSince: number;
  downRequested = false;
  stopRequested = false;
  startRequested = false;
  /** why the last stop or start failed (its update fails with it) */
  stopError?: string;
  startError?: string;
  compensations: Compensation[] = [];
  provisionScope?: CancellationScope;
  /** each running job's scope: cancelling it stops the job's activities (a stuck start, a status poll) */
  jobScopes = new Map<number, CancellationScope>();
  /** the secrets of jobs still kept, for `skyrun logs` to redact (answered only to a keyed client) */
  jobSecrets: Array<{ id: number; secrets: Record<string, string> }>;
  /** bumped by every event the main loop or a job watcher may wait for */
  wake = 0;
  /** the phase a blocked cleanup interrupted (shown again once it succeeds) */
  phaseBeforeBlock?: Phase;

  constructor(readonly input: ClusterWorkflowInput) {
    const c = input.carried;
    this.info = c?.info ?? {
      name: input.name,
      status: 'INIT',
      phase: 'Optimizing',
      launchedAt: Date.now(),
      autostop: input.autostop,
      jobs: [],
      attempts: [],
      numNodes: input.numNodes,
      resources: '',
    };
    this.pending = c?.pending ?? [];
    this.nextJobId = c?.nextJobId ?? 1;
    this.jobSecrets = c?.jobSecrets ?? [];
    this.idleSince = c?.idleSince ?? Date.now();
    if (c?.info.handle) {
      this.compensations.push({
        label: offerLabel(c.info.handle.offer),
        cloud: c.info.handle.offer.cloud,
        clusterName: input.name,
      });
    }
  }

  setPhase(phase: Phase): void {
    this.info.phase = phase;
    upsertSearchAttributes([{ key: SA.Phase, value: phase }]);
  }

  job(id: number): JobRecord | undefined {
    return this.info.jobs.find((j) => j.id === id);
  }

  // ---- updates -------------------------------------------------------------------------

  validateSubmit(req: JobRequest): void {
    if (this.downRequested || this.info.status === 'TERMINATING' || this.info.status === 'TERMINATED') {
      throw new Error(`cluster '${this.info.name}' is being torn down`);
    }
    if (this.info.status === 'STOPPED') {
      throw new Error(`cluster '${this.info.name}' is STOPPED; start it with: skyrun start ${this.info.name}`);
    }
    if (!req.run && !req.setup) throw new Error('the job has nothing to run');
  }

  submit(req: JobRequest): SubmitJobResult {
    const id = this.nextJobId++;
    const taskId = `skyrun-${runTimestamp(Date.now())}_${this.info.name}_${id}`;
    this.info.jobs.push({
      id,
      name: req.name,
      status: 'PENDING',
      submittedAt: Date.now(),
      taskId,
      resources: describeJob(req),
    });
    this.pending.push({ id, request: req });
    if (Object.keys(req.secrets ?? {}).length) this.jobSecrets.push({ id, secrets: req.secrets });
    this.wake++;
    return { jobId: id, taskId };
  }

  validateCancel(id: number): void {
    if (!this.job(id)) throw new Error(`job ${id} not found on cluster '${this.info.name}'`);
  }

  async cancel(id: number): Promise<JobStatus> {
    const rec = this.job(id)!;
    if (isTerminal(rec.status)) return rec.status;
    const queued = this.pending.findIndex((p) => p.id === id);
    if (queued >= 0) {
      this.pending.splice(queued, 1);
      this.finish(rec, 'CANCELLED');
      return rec.status;
    }
    this.cancelRequested.add(id);
    this.wake++;
    if (patched('cancel-stops-job-activities')) await this.killJob(id);
    else if (this.info.handle) await acts.cancelJob({ handle: this.info.handle, jobId: id });
    this.wake++;
    await condition(() => isTerminal(rec.status));
    return rec.status;
  }

  /**
   * Kill a job being cancelled (a few tries), give it KILL_GRACE_MS to end on its own, then
   * cancel its activities: a job whose start keeps failing, or whose node cannot be reached,
   * ends CANCELLED all the same instead of holding the cancel (or the down) forever.
   */
  async killJob(id: number): Promise<void> {
    const rec = this.job(id);
    if (this.info.handle) {
      try {
        await acts.cancelJob.executeWithOptions({ summary: `job ${id}: kill`, retry: KILL_RETRY }, [
          { handle: this.info.handle, jobId: id },
        ]);
      } catch (e) {
        if (rec) rec.failureReason = `could not kill the job's processes: ${failureMessage(e)}`;
      }
    }
    this.wake++;
    if (!this.running.has(id)) return;
    const ended = await condition(() => !this.running.has(id), KILL_GRACE_MS);
    if (!ended) this.jobScopes.get(id)?.cancel();
  }

  /**
   * Cancel every running job and wait until none runs; stuck ones too (patched: before it, a stop
   * or a down asked each job's processes to die once, as `how` says, and waited for its watcher).
   */
  async cancelRunning(handle: ClusterHandle, how: 'stop' | 'down'): Promise<void> {
    if (patched('stop-and-down-end-stuck-jobs')) {
      const ids = [...this.running.keys()];
      for (const id of ids) this.cancelRequested.add(id);
      await Promise.all(ids.map((id) => this.killJob(id)));
      this.wake++;
    } else if (how === 'stop') {
      for (const id of this.running.keys()) this.cancelRequested.add(id);
      for (const id of this.running.keys()) await acts.cancelJob({ handle, jobId: id });
    } else {
      for (const id of this.running.keys()) {
        this.cancelRequested.add(id);
        await acts.cancelJob({ handle, jobId: id });
      }
      this.wake++;
    }
    await condition(() => this.running.size === 0);
  }

  async down(): Promise<void> {
    this.downRequested = true;
    this.provisionScope?.cancel();
    this.wake++;
    await condition(() => this.info.status === 'TERMINATED');
  }

  async stop(): Promise<void> {
    if (this.info.status !== 'UP')
      throw ApplicationFailure.nonRetryable(`cluster is ${this.info.status}`, FailureTypes.ClusterNotUp);
    // a cluster its infra cannot stop (spot instances) is refused before anything changes
    const refusal = await this.stopRefusal();
    if (refusal) throw ApplicationFailure.nonRetryable(refusal, FailureTypes.InvalidRequest);
    this.stopRequested = true;
    this.stopError = undefined;
    this.wake++;
    await condition(() => this.info.status !== 'UP' || this.stopError !== undefined);
    if (this.stopError) throw ApplicationFailure.nonRetryable(this.stopError, FailureTypes.InvalidRequest);
  }

  async start(): Promise<void> {
    if (this.info.status === 'UP') return;
    this.startRequested = true;
    this.startError = undefined;
    this.wake++;
    await condition(() => this.info.status !== 'STOPPED' || this.startError !== undefined);
    if (this.startError) throw ApplicationFailure.nonRetryable(this.startError, FailureTypes.InvalidRequest);
  }

  /** Whether stop and start really stop and start the nodes (histories from before only marked them). */
  realStopStart(): boolean {
    return !!this.info.handle && patched('real-stop-start');
  }

  /** Why the infra cannot stop this cluster (asked of its provider), undefined when it can. */
  async stopRefusal(): Promise<string | undefined> {
    if (!this.realStopStart()) return undefined;
    const handle = this.info.handle!;
    return (
      (await statusActs.stopRefusal.executeWithOptions({ summary: 'can the nodes be stopped?' }, [{ handle }])) ??
      undefined
    );
  }

  setAutostop(a: AutostopSetting | null): void {
    this.info.autostop = a ?? undefined;
    this.idleSince = Math.max(this.idleSince, Date.now());
    this.wake++;
  }

  // ---- jobs ----------------------------------------------------------------------------

  finish(rec: JobRecord, status: JobStatus, exitCode?: number): void {
    rec.status = status;
    rec.exitCode = exitCode;
    rec.endedAt = Date.now();
    this.idleSince = Date.now();
    const finished = this.info.jobs.filter((j) => isTerminal(j.status));
    if (finished.length > KEPT_JOBS) {
      const drop = new Set(finished.slice(0, finished.length - KEPT_JOBS).map((j) => j.id));
      this.info.jobs = this.info.jobs.filter((j) => !drop.has(j.id));
      this.jobSecrets = this.jobSecrets.filter((j) => !drop.has(j.id));
    }
    this.wake++;
  }

  /** FIFO with resource demand: a job starts when it fits beside the running ones. */
  schedule(): void {
    const offer = this.info.handle!.offer;
    const gpusPerNode = offer.accelerator?.count ?? 0;
    while (this.pending.length) {
      const next = this.pending[0]!;
      let cpu = 0;
      let gpu = 0;
      for (const r of this.running.values()) {
        cpu += r.cpuDemand;
        gpu += r.numGpusPerNode;
      }
      const fits =
        this.running.size === 0 ||
        (cpu + next.request.cpuDemand <= offer.vcpus && gpu + next.request.numGpusPerNode <= gpusPerNode);
      if (!fits) return;
      this.pending.shift();
      this.running.set(next.id, next.request);
      const scope = new CancellationScope();
      this.jobScopes.set(next.id, scope);
      void scope.run(() => this.runJob(next.id, next.request)).finally(() => this.jobScopes.delete(next.id));
    }
  }

  async runJob(id: number, req: JobRequest): Promise<void> {
    const rec = this.job(id)!;
    const handle = this.info.handle!;
    rec.startedAt = Date.now();
    try {
      rec.status = req.setup ? 'SETTING_UP' : 'RUNNING';
      if (req.workdir || Object.keys(req.fileMounts ?? {}).length) {
        await syncActs.syncWorkdir.executeWithOptions({ summary: `job ${id}: sync workdir and file_mounts` }, [
          { handle, workdir: req.workdir, fileMounts: req.fileMounts },
        ]);
      }
      if (req.setup) {
        const r = await this.phase(id, 'setup', req, rec);
        if (this.cancelRequested.has(id)) return this.finish(rec, 'CANCELLED', r.exitCode);
        if (r.exitCode !== 0) {
          rec.failedRank = r.rank;
          return this.finish(rec, 'FAILED_SETUP', r.exitCode);
        }
        rec.status = 'RUNNING';
      }
      if (!req.run) return this.finish(rec, 'SUCCEEDED', 0);
      const r = await this.phase(id, 'run', req, rec);
      if (this.cancelRequested.has(id)) return this.finish(rec, 'CANCELLED', r.exitCode);
      if (r.lost) {
        rec.failedRank = r.rank;
        rec.failureReason = `the job's process on rank ${r.rank ?? 0} vanished without an exit code`;
        return this.finish(rec, 'FAILED_DRIVER');
      }
      if (r.exitCode !== 0) rec.failedRank = r.rank;
      this.finish(rec, r.exitCode === 0 ? 'SUCCEEDED' : 'FAILED', r.exitCode);
    } catch (e) {
      // a failure no retry fixes (the activities say which): the job ends with the reason
      const cancelled = this.cancelRequested.has(id);
      if (!cancelled) rec.failureReason = failureMessage(e);
      this.finish(rec, cancelled ? 'CANCELLED' : 'FAILED_DRIVER');
    } finally {
      this.running.delete(id);
      this.cancelRequested.delete(id);
      this.wake++;
    }
  }

  phase(id: number, phase: 'setup' | 'run', req: JobRequest, rec: JobRecord): Promise<PhaseOutcome> {
    return runPhase({
      handle: this.info.handle!,
      jobId: id,
      phase,
      taskId: rec.taskId,
      job: req,
      label: `job ${id}`,
      maxPollMs: MAX_POLL_MS,
      wait: async (ms) => {
        const seen = this.wake;
        await condition(() => this.wake !== seen, ms);
      },
    });
  }

  // ---- lifecycle -----------------------------------------------------------------------

  async provision(): Promise<void> {
    this.provisionScope = new CancellationScope();
    const handle = await this.provisionScope.run(() => this.searchUntilUp());
    this.provisionScope = undefined;
    this.info.handle = handle;
    this.info.resources = `${this.input.numNodes}x ${offerLabel(handle.offer)}`;
    this.info.status = 'UP';
    this.idleSince = Date.now();
    this.setPhase('Up');
  }

  /** Optimize, then fail over through the offers; with retry_until_up, wait and search again. */
  searchUntilUp(): Promise<ClusterHandle> {
    const { input } = this;
    return searchAndProvision({
      clusterName: input.name,
      candidates: input.candidates,
      ordered: input.ordered,
      numNodes: input.numNodes,
      attempts: this.info.attempts,
      compensations: this.compensations,
      noOffers: { what: 'task', type: FailureTypes.ResourcesUnavailable },
      retry: input.retryUntilUp,
      summaries: {
        optimize: (round) => (round > 1 ? `optimize (round ${round})` : 'optimize'),
        wait: (round, gap) => `retry_until_up: round ${round} found no capacity; waiting ${Math.round(gap / 1000)} s`,
      },
      onPhase: (phase) => this.setPhase(phase),
      onCleanup: (reason) => this.cleanupReport(reason),
    });
  }

  /** A blocked teardown shows in the status query: phase CleanupBlocked and the last error. */
  cleanupReport(reason: string | undefined): void {
    if (reason !== undefined) {
      if (this.info.phase !== 'CleanupBlocked') this.phaseBeforeBlock = this.info.phase;
      this.info.phase = 'CleanupBlocked';
    } else if (this.info.phase === 'CleanupBlocked') {
      this.info.phase = this.phaseBeforeBlock ?? 'CleaningUp';
    }
    this.info.cleanupError = reason;
  }

  /** Suggested by the server and nothing in flight (waking on a suggestion alone would spin). */
  canContinueAsNew(): boolean {
    return (
      workflowInfo().continueAsNewSuggested &&
      this.running.size === 0 &&
      this.cancelRequested.size === 0 &&
      allHandlersFinished()
    );
  }

  autostopRemaining(): number | undefined {
    const a = this.info.autostop;
    if (!a || a.idleMinutes < 0 || this.info.status !== 'UP') return undefined;
    if (this.running.size || this.pending.length) return undefined;
    return Math.max(0, this.idleSince + a.idleMinutes * 60_000 - Date.now());
  }

  async serve(): Promise<void> {
    for (;;) {
      if (this.downRequested) return;
      if (this.stopRequested) {
        this.stopRequested = false;
        await this.doStop();
      }
      if (this.startRequested) {
        this.startRequested = false;
        await this.doStart();
        if (this.downRequested) return;
      }
      if (this.info.status === 'UP') this.schedule();
      if (this.canContinueAsNew()) {
        await continueAsNew<typeof clusterWorkflow>({
          ...this.input,
          carried: {
            info: this.info,
            pending: this.pending,
            nextJobId: this.nextJobId,
            idleSince: this.idleSince,
            jobSecrets: this.jobSecrets,
          },
        });
      }
      const seen = this.wake;
      const remaining = this.autostopRemaining();
      if (remaining === undefined) {
        await condition(() => this.wake !== seen || this.canContinueAsNew());
        continue;
      }
      const woke = await condition(() => this.wake !== seen, remaining, {
        summary: `autostop in ${Math.round(remaining / 60_000)} min`,
      });
      if (!woke && this.autostopRemaining() === 0) {
        if (this.info.autostop!.down) this.downRequested = true;
        else if (await this.stopRefusal())
          this.info.autostop = undefined; // it cannot stop: it stays UP
        else await this.doStop();
      }
    }
  }

  /** Cancel the running jobs, then stop the nodes (disks kept); STOPPED, or UP with stopError when that fails. */
  async doStop(): Promise<void> {
    if (this.info.handle) {
      await this.cancelRunning(this.info.handle, 'stop');
    } else {
      for (const id of this.running.keys()) this.cancelRequested.add(id);
      await condition(() => this.running.size === 0);
    }
    if (this.realStopStart()) {
      try {
        await stopStartActs.stopCluster.executeWithOptions({ summary: `stop ${offerLabel(this.info.handle!.offer)}` }, [
          { handle: this.info.handle! },
        ]);
      } catch (e) {
        this.stopError = failureMessage(e);
        this.idleSince = Date.now();
        return;
      }
    }
    this.info.status = 'STOPPED';
    this.setPhase('Stopped');
  }

  /** Start the stopped nodes again (a down cancels it); UP with the handle as they are reached now. */
  async doStart(): Promise<void> {
    if (this.realStopStart() && this.info.status === 'STOPPED') {
      this.provisionScope = new CancellationScope();
      try {
        const handle = this.info.handle!;
        this.info.handle = await this.provisionScope.run(() =>
          stopStartActs.startCluster.executeWithOptions({ summary: `start ${offerLabel(handle.offer)}` }, [{ handle }]),
        );
      } catch (e) {
        if (!(isCancellation(e) && this.downRequested)) this.startError = failureMessage(e);
        return;
      } finally {
        this.provisionScope = undefined;
      }
    }
    this.info.status = 'UP';
    this.idleSince = Date.now();
    this.setPhase('Up');
  }

  async teardown(): Promise<void> {
    this.info.status = 'TERMINATING';
    this.setPhase('CleaningUp');
    await CancellationScope.nonCancellable(async () => {
      for (const p of this.pending.splice(0)) this.finish(this.job(p.id)!, 'CANCELLED');
      if (this.info.handle) await this.cancelRunning(this.info.handle, 'down');
      await runCompensations(this.compensations, (reason) => this.cleanupReport(reason));
    });
    this.info.status = 'TERMINATED';
    this.wake++;
  }
}

export async function clusterWorkflow(input: ClusterWorkflowInput): Promise<ClusterInfo> {
  // names become folders, tags and instance names: a bad one never reaches an activity
  const problem = validateClusterName(input.name);
  if (problem) throw ApplicationFailure.nonRetryable(`cluster: ${problem}`, FailureTypes.InvalidRequest);
  const c = new Cluster(input);
  setHandler(statusQuery, () => c.info);
  setHandler(jobSecretsQuery, (id) => ({ secrets: c.jobSecrets.find((j) => j.id === id)?.secrets ?? {} }));
  setHandler(submitJobUpdate, (req) => c.submit(req), { validator: (req) => c.validateSubmit(req) });
  setHandler(cancelJobUpdate, (id) => c.cancel(id), { validator: (id) => c.validateCancel(id) });
  setHandler(downUpdate, () => c.down());
  setHandler(stopUpdate, () => c.stop());
  setHandler(startUpdate, () => c.start());
  setHandler(setAutostopUpdate, (a) => c.setAutostop(a));
  setHandler(pokeSignal, () => {
    c.wake++;
  });
  try {
    if (!input.carried) await c.provision();
    await c.serve();
  } catch (e) {
    if (e instanceof ContinueAsNew) throw e; // the cluster lives on in the next run
    if (!isCancellation(e) && !c.downRequested) {
      c.info.error = e instanceof Error ? e.message : String(e);
      for (const p of c.pending.splice(0)) c.finish(c.job(p.id)!, 'CANCELLED');
      await c.teardown();
      c.setPhase('Failed');
      await condition(allHandlersFinished);
      throw e;
    }
    if (!c.downRequested) {
      // the workflow itself was cancelled: clean up, then report the cancellation
      await c.teardown();
      c.setPhase('Terminated');
      throw e;
    }
  }
  await c.teardown();
  c.setPhase('Terminated');
  await condition(allHandlersFinished);
  return c.info;
}
