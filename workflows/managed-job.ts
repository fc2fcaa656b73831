/**
 * The managed job workflow (id `managed-job/<id>`): the controller of one job. It launches a
 * cluster of its own with failover, runs setup and run, watches the job and its instances, and
 * recovers on its own: preemption (instances gone) relaunches under the job_recovery strategy,
 * user failures restart up to max_restarts_on_errors, recover_on_exit_codes always recover.
 * Whatever happens, it ends by tearing its cluster down, verified. A worker or server restart
 * only resumes it; long lives continue-as-new with the compact state.
 */
import {
  ApplicationFailure,
  CancellationScope,
  ContinueAsNew,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  patched,
} from '@temporalio/workflow';
import type { ClusterHandle } from '../core/cluster';
import { FailureTypes } from '../core/errors';
import { isManagedTerminal, pipelineClusterName, type ManagedJobState, type ManagedJobStatus } from '../core/managed';
import { validateClusterName, managedClusterName, validateName } from '../core/names';
import { offerLabel } from '../core/offers';
import {
  type ManagedJobInput,
  type ManagedTaskInput,
  SA,
  cancelManagedJobUpdate,
  managedJobQuery,
  managedJobSecretsQuery,
} from './contract';
import { advancePipeline, pipelineJob, pipelineStart, secretsOf, syncPipelineRow } from './pipeline';
import { type PhaseOutcome, nodesGone, runPhase } from './job-exec';
import { type Compensation, failureClass, runCompensations, searchAndProvision } from './provision';
import { acts, statusActs, syncActs } from './proxies';

/** SkyPilot's controller checks every ~20 s; early checks come sooner (1 s, backing off). */
const MAX_POLL_MS = 15_000;

class ManagedJob {
  s: ManagedJobState;
  compensations: Compensation[] = [];
  cancelRequested = false;
  scope?: CancellationScope;

  constructor(readonly input: ManagedJobInput) {
    this.s = input.carried ?? {
      id: input.id,
      name: input.name,
      status: 'PENDING',
      resources: '',
      submittedAt: Date.now(),
      jobDurationMs: 0,
      recoveries: 0,
      restarts: 0,
      attempt: 0,
      taskId: `skyrun-managed-${input.id}_${input.name}`,
      // a name space users cannot type (a leading digit), so no user cluster meets it
      clusterName: patched('managed-cluster-namespace')
        ? managedClusterName(input.id, input.name)
        : `${input.name}-${input.id}`,
      stage: 'launch',
      blocks: [],
      events: [],
      attempts: [],
      ...(input.tasks ? pipelineStart(input) : {}),
    };
    if (this.s.handle) this.compensations.push(this.compensationFor(this.s.handle));
  }

  /** What runs now: the pipeline's current task, or the job's one task. */
  get task(): ManagedTaskInput {
    return this.input.tasks?.[this.s.taskIndex ?? 0] ?? this.input;
  }

  compensationFor(h: ClusterHandle): Compensation {
    return { label: offerLabel(h.offer), cloud: h.offer.cloud, clusterName: this.s.clusterName };
  }

  set(status: ManagedJobStatus, detail?: string): void {
    this.s.status = status;
    if (detail) this.s.failureReason = detail;
    if (isManagedTerminal(status)) this.s.endedAt = Date.now();
    this.publish();
  }

  /** Search attributes and memo: `skyrun jobs queue` and the UI read these without a query. */
  publish(): void {
    const o = this.s.handle?.offer;
    if (this.s.tasks) syncPipelineRow(this.s);
    upsertSearchAttributes([
      { key: SA.Phase, value: this.s.status },
      { key: SA.Recoveries, value: this.s.tasks?.reduce((n, t) => n + t.recoveries, 0) ?? this.s.recoveries },
      ...(o
        ? [
            { key: SA.Cloud, value: o.cloud },
            { key: SA.Region, value: o.region },
            { key: SA.Spot, value: o.spot },
            { key: SA.HourlyPrice, value: o.hourlyPrice * o.numNodes },
          ]
        : []),
    ]);
    const { handle, attempts, events, blocks, ...compact } = this.s;
    upsertMemo({ job: compact });
  }

  event(kind: ManagedJobState['events'][number]['kind'], detail: string): void {
    const i = this.s.taskIndex ?? 0;
    const t = this.s.tasks?.[i];
    if (t) this.s.events.push({ at: Date.now(), kind, detail: `task ${i} (${t.name}): ${detail}`, task: i });
    else this.s.events.push({ at: Date.now(), kind, detail });
    if (this.s.events.length > 100) this.s.events.splice(0, this.s.events.length - 100);
  }

  // ---- launching -------------------------------------------------------------------------

  /** Optimize and fail over until a cluster is up; no capacity anywhere waits and tries again. */
  launch(): Promise<ClusterHandle> {
    const { input, task } = this;
    return searchAndProvision({
      clusterName: this.s.clusterName,
      candidates: task.candidates,
      ordered: task.ordered,
      numNodes: task.numNodes,
      attempts: this.s.attempts,
      compensations: this.compensations,
      blocks: this.s.blocks,
      preferRegion: this.s.preferRegion,
      noOffers: { what: 'job', type: FailureTypes.InvalidRequest },
      // like SkyPilot's controller: keep trying, backing off
      retry: { gapMs: input.retryGapMs },
      summaries: {
        optimize: () => `attempt ${this.s.attempt + 1}: optimize`,
        wait: (round, gap) => `no capacity (round ${round}); waiting ${Math.round(gap / 1000)} s`,
      },
    });
  }

  // ---- running -----------------------------------------------------------------------------

  async phase(phase: 'setup' | 'run'): Promise<PhaseOutcome> {
    return runPhase({
      handle: this.s.handle!,
      jobId: this.s.attempt,
      phase,
      taskId: this.s.taskId,
      job: this.s.tasks ? pipelineJob(this.input, this.s.taskIndex ?? 0) : this.task.job,
      label: `attempt ${this.s.attempt}`,
      maxPollMs: MAX_POLL_MS,
      watchInstances: true,
      wait: async (ms) => {
        await condition(() => this.cancelRequested, ms);
        // a long watch continues as new; the next run re-attaches to the same process
        if (workflowInfo().continueAsNewSuggested && allHandlersFinished()) await this.continueAsNew();
      },
    });
  }

  /** Keep the attempt's log (best effort), then tear the cluster down, verified. */
  async endAttempt(): Promise<void> {
    const handle = this.s.handle;
    if (handle) {
      await CancellationScope.nonCancellable(async () => {
        await statusActs.saveJobLog
          .executeWithOptions({ summary: `attempt ${this.s.attempt}: keep the log`, retry: { maximumAttempts: 2 } }, [
            { handle, jobId: this.s.attempt, managedJobId: this.s.id },
          ])
          .catch(() => undefined);
      });
    }
    await runCompensations(this.compensations);
    this.s.handle = undefined;
  }

  /** What to do after a phase ended without success. */
  async recoverOrFail(out: PhaseOutcome, phase: 'setup' | 'run'): Promise<void> {
    const { recovery } = this.task;
    const region = this.s.handle!.offer.region;
    const cloudOf = this.s.handle!.offer.cloud;
    const gone = out.goneNodes ?? (await nodesGone(this.s.handle!, `attempt ${this.s.attempt}`));
    this.s.exitCode = out.exitCode;
    if (gone.length) {
      // preemption: the infra took the nodes away while the job was not done
      this.event('preempted', `${gone.length} node(s) gone in ${region}: ${gone.join(', ')}`);
      this.s.recoveries++;
      this.set('RECOVERING');
      await this.endAttempt();
      this.s.blocks = recovery.strategy === 'EAGER_NEXT_REGION' ? [{ cloud: cloudOf, region }] : [];
      this.s.preferRegion = recovery.strategy === 'FAILOVER' ? region : undefined;
      this.s.stage = 'launch';
      return;
    }
    const code = out.exitCode;
    const what = out.lost ? 'the job process vanished' : `${phase} exited with code ${code} on rank ${out.rank ?? 0}`;
    if (code !== undefined && recovery.recoverOnExitCodes.includes(code)) {
      this.event('recovering', `${what}: listed in recover_on_exit_codes`);
      this.s.recoveries++;
    } else if (this.s.restarts < recovery.maxRestartsOnErrors) {
      this.s.restarts++;
      this.event('restart', `${what}: restart ${this.s.restarts} of ${recovery.maxRestartsOnErrors}`);
    } else {
      this.event('failed', what);
      await this.endAttempt();
      this.set(phase === 'setup' ? 'FAILED_SETUP' : 'FAILED', what);
      return;
    }
    this.set('RECOVERING');
    await this.endAttempt();
    this.s.blocks = [];
    this.s.preferRegion = undefined;
    this.s.stage = 'launch';
  }

  async continueAsNew(): Promise<never> {
    if (this.s.runningSince !== undefined) {
      // the job keeps running: carry its time so far, resume the clock in the next run
      this.s.jobDurationMs += Date.now() - this.s.runningSince;
      this.s.runningSince = Date.now();
    }
    return continueAsNew<typeof managedJobWorkflow>({ ...this.input, carried: this.s });
  }

  async run(): Promise<void> {
    while (!isManagedTerminal(this.s.status)) {
      if (workflowInfo().continueAsNewSuggested && allHandlersFinished()) await this.continueAsNew();
      if (this.s.stage === 'launch') {
        this.set(this.s.attempt === (this.s.firstAttempt ?? 0) ? 'STARTING' : 'RECOVERING');
        const handle = await this.launch();
        this.s.attempt++;
        this.s.handle = handle;
        this.s.lastRegion = handle.offer.region;
        this.s.resources = `${this.task.numNodes}x ${offerLabel(handle.offer)}`;
        this.s.startedAt ??= Date.now();
        const { workdir, fileMounts } = this.task.job;
        if (workdir || Object.keys(fileMounts ?? {}).length) {
          await syncActs.syncWorkdir.executeWithOptions(
            { summary: `attempt ${this.s.attempt}: sync workdir and file_mounts` },
            [{ handle, workdir, fileMounts }],
          );
        }
        this.s.stage = this.task.job.setup ? 'setup' : 'run';
        this.event('launched', `attempt ${this.s.attempt} on ${offerLabel(handle.offer)}`);
        this.set('RUNNING');
      }
      const phase = this.s.stage === 'setup' ? 'setup' : 'run';
      if (phase === 'run' && this.s.runningSince === undefined) {
        this.s.runningSince = Date.now();
        this.publish();
      }
      const out = await this.phase(phase);
      if (phase === 'run' && this.s.runningSince !== undefined) {
        this.s.jobDurationMs += Date.now() - this.s.runningSince;
        this.s.runningSince = undefined;
      }
      if (out.exitCode === 0 && !out.goneNodes) {
        if (phase === 'setup') {
          this.s.stage = 'run';
          continue;
        }
        this.s.stage = 'done';
        this.s.exitCode = 0;
        this.event('succeeded', `attempt ${this.s.attempt}`);
        await this.endAttempt();
        // a pipeline goes on with its next task, on a cluster of its own
        if (this.s.tasks && advancePipeline(this.s, this.input)) continue;
        this.set('SUCCEEDED');
        continue;
      }
      await this.recoverOrFail(out, phase);
    }
  }
}

export async function managedJobWorkflow(input: ManagedJobInput): Promise<ManagedJobState> {
  const problem =
    validateName(input.name) ??
    input.tasks?.map((t) => validateName(t.name)).find(Boolean) ??
    (Number.isSafeInteger(input.id) && input.id > 0 ? undefined : 'bad id');
  if (problem) throw ApplicationFailure.nonRetryable(`managed job: ${problem}`, FailureTypes.InvalidRequest);
  const m = new ManagedJob(input);
  const bad = validateClusterName(m.s.clusterName);
  if (bad) throw ApplicationFailure.nonRetryable(`managed job ${input.id}: ${bad}`, FailureTypes.InvalidRequest);
  setHandler(managedJobQuery, () => m.s);
  setHandler(managedJobSecretsQuery, (id) => ({ secrets: id === input.id ? secretsOf(input) : {} }));
  setHandler(cancelManagedJobUpdate, async () => {
    if (!isManagedTerminal(m.s.status)) {
      m.cancelRequested = true;
      m.scope?.cancel();
      await condition(() => isManagedTerminal(m.s.status));
    }
    return m.s.status;
  });
  m.publish();
  let continuing = false;
  try {
    m.scope = new CancellationScope();
    await m.scope.run(() => m.run());
  } catch (e) {
    if (e instanceof ContinueAsNew) {
      continuing = true; // the cluster lives on in the next run
      throw e;
    }
    if (isCancellation(e) || m.cancelRequested) {
      m.set('CANCELLING');
      await CancellationScope.nonCancellable(async () => {
        if (m.s.handle) await acts.cancelJob({ handle: m.s.handle, jobId: m.s.attempt });
        await m.endAttempt();
      });
      m.event('cancelled', 'cancelled by the user');
      m.set('CANCELLED');
    } else if (e instanceof ApplicationFailure && e.type === FailureTypes.InvalidRequest) {
      await m.endAttempt();
      m.set('FAILED_PRECHECKS', e.message);
    } else {
      await m.endAttempt();
      // an activity's failure says why in its cause
      const reason = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
      // invalid: an activity found the job can never run (an env the OS refuses, a NUL byte);
      // else an unexpected failure of the controller itself (never a crash: that only resumes)
      m.set(failureClass(e).cls === 'invalid' ? 'FAILED_PRECHECKS' : 'FAILED_CONTROLLER', reason);
    }
  } finally {
    // always leave nothing behind
    if (!continuing) await runCompensations(m.compensations);
  }
  await condition(allHandlersFinished);
  return m.s;
}
