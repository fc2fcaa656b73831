/**
 * The managed-job workflow in process: the real workflow bundle on a dev server, activities from
 * createActivities over fake clouds (jobs run as real local processes; preemption is the fake
 * cloud reporting the nodes gone). Recovery strategies, restarts, exit codes, no-capacity waits.
 */
import { managedClusterName } from '../../core/names';
import { pipelineClusterName, taskAttempts } from '../../core/managed';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { JobRecoverySpec } from '../../core/task';
import { type ManagedJobInput, managedJobWorkflowId } from '../../workflows/contract';
import type { managedJobWorkflow } from '../../workflows/managed-job';
import { ANY_RESOURCES, type FakeOffer, fakeProviders, where } from '../helpers/fake-cloud';
import { eventually } from '../helpers/skyrun';
import { type WorkflowTestEnv, createWorkflowTestEnv, timersOf } from '../helpers/workflow-env';

let t: WorkflowTestEnv;

beforeAll(async () => {
  t = await createWorkflowTestEnv();
});

afterAll(async () => {
  await t?.dispose();
});

let n = 0;

function jobInput(run: string, recovery: Partial<JobRecoverySpec> = {}): ManagedJobInput {
  return {
    id: ++n,
    name: 'mj',
    candidates: [ANY_RESOURCES],
    ordered: false,
    numNodes: 1,
    job: { run, envs: {}, secrets: {}, numGpusPerNode: 0, cpuDemand: 0.5 },
    recovery: { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 0, recoverOnExitCodes: [], ...recovery },
    user: 'test',
    retryGapMs: 100,
  };
}

function start(inp: ManagedJobInput) {
  return t.env.client.workflow.start<typeof managedJobWorkflow>('managedJobWorkflow', {
    workflowId: managedJobWorkflowId(inp.id),
    taskQueue: t.taskQueue,
    args: [inp],
  });
}

/** A run script that succeeds when `mark` exists, and otherwise creates it and does `then`. */
function firstTime(mark: string, then: string): string {
  return `if [ -f ${mark} ]; then exit 0; fi; touch ${mark}; ${then}`;
}

const TWO_REGIONS: FakeOffer[] = [
  { region: 'r1', zones: ['z1'], hourlyPrice: 1 },
  { region: 'r2', zones: ['z2'], hourlyPrice: 2 },
];

/** Launch a job that runs until preempted once, preempt it, and return the final state. */
async function preemptedOnce(
  offers: FakeOffer[],
  strategy: JobRecoverySpec['strategy'],
  plan?: (r: string) => boolean,
) {
  const f = fakeProviders(t.home, { alpha: offers });
  if (plan) f.clouds.alpha!.plan = ({ region, nth }) => (nth === 1 && plan(region) ? 'capacity' : undefined);
  t.use(f.providers);
  const mark = path.join(t.home, `mark-${n + 1}`);
  const inp = jobInput(firstTime(mark, 'sleep 60'), { strategy });
  const h = await start(inp);
  await eventually(() => existsSync(mark), 30_000);
  f.clouds.alpha!.preempt(managedClusterName(inp.id, inp.name));
  const s = await h.result();
  return { s, f };
}

test('EAGER_NEXT_REGION: after a preemption the region that preempted is blocked', async () => {
  const { s, f } = await preemptedOnce(TWO_REGIONS, 'EAGER_NEXT_REGION');
  expect(s.status).toBe('SUCCEEDED');
  expect(s.recoveries).toBe(1);
  expect(s.events.map((e) => e.kind)).toContain('preempted');
  // r1 is cheaper, but it preempted: the next launch goes to r2
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1', 'alpha/r2/z2']);
  expect(f.clouds.alpha!.terminated).toEqual([managedClusterName(n, 'mj'), managedClusterName(n, 'mj')]);
});

test('FAILOVER: after a preemption the same region is tried first', async () => {
  // r2 is cheaper but has no capacity the first time, so the job lands in r1
  const offers: FakeOffer[] = [
    { region: 'r2', zones: ['z2'], hourlyPrice: 1 },
    { region: 'r1', zones: ['z1'], hourlyPrice: 2 },
  ];
  const { s, f } = await preemptedOnce(offers, 'FAILOVER', (r) => r === 'r2');
  expect(s.status).toBe('SUCCEEDED');
  expect(s.recoveries).toBe(1);
  // the recovery goes back to r1 although r2 (cheaper) has capacity again
  expect(f.calls.map((c) => `${where(c)} ${c.outcome}`)).toEqual([
    'alpha/r2/z2 capacity',
    'alpha/r1/z1 ok',
    'alpha/r1/z1 ok',
  ]);
});

test('max_restarts_on_errors: a failing job restarts that many times, then fails', async () => {
  const f = fakeProviders(t.home, { alpha: TWO_REGIONS });
  t.use(f.providers);
  const h = await start(jobInput('exit 1', { maxRestartsOnErrors: 2 }));
  const s = await h.result();
  expect(s.status).toBe('FAILED');
  expect(s.restarts).toBe(2);
  expect(s.recoveries).toBe(0);
  expect(s.exitCode).toBe(1);
  // a user failure blocks nothing: every attempt goes to the cheapest region
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1', 'alpha/r1/z1', 'alpha/r1/z1']);
  expect(f.clouds.alpha!.terminated).toHaveLength(3);
});

test('recover_on_exit_codes: a listed exit code recovers without using up restarts', async () => {
  const f = fakeProviders(t.home, { alpha: TWO_REGIONS });
  t.use(f.providers);
  const mark = path.join(t.home, `mark-${n + 1}`);
  const h = await start(jobInput(firstTime(mark, 'exit 33'), { recoverOnExitCodes: [33] }));
  const s = await h.result();
  expect(s.status).toBe('SUCCEEDED');
  expect(s.recoveries).toBe(1);
  expect(s.restarts).toBe(0);
  expect(s.events.map((e) => e.kind)).toContain('recovering');
  expect(f.calls).toHaveLength(2);
});

test('no capacity anywhere: the job waits (backing off x1.6) and searches again', async () => {
  const f = fakeProviders(t.home, { alpha: TWO_REGIONS });
  // two rounds of two regions without capacity, then r1 has it
  f.clouds.alpha!.plan = ({ nth }) => (nth <= 4 ? 'capacity' : undefined);
  t.use(f.providers);
  const h = await start(jobInput('true'));
  const s = await h.result();
  expect(s.status).toBe('SUCCEEDED');
  expect(f.calls.map(where)).toEqual([
    ...['alpha/r1/z1', 'alpha/r2/z2'],
    ...['alpha/r1/z1', 'alpha/r2/z2'],
    'alpha/r1/z1',
  ]);
  const waits = (await timersOf(h)).filter((x) => x.summary?.startsWith('no capacity'));
  expect(waits).toEqual([
    { ms: 100, summary: 'no capacity (round 1); waiting 0 s' },
    { ms: 160, summary: 'no capacity (round 2); waiting 0 s' },
  ]);
});

test('a pipeline: each task on its own cluster with its own job_recovery; the rows and attempts per task', async () => {
  const f = fakeProviders(t.home, { alpha: TWO_REGIONS });
  t.use(f.providers);
  const mark = path.join(t.home, `mark-pipeline-${n + 1}`);
  const first = jobInput(firstTime(mark, 'exit 5'), { maxRestartsOnErrors: 1 });
  const mark2 = path.join(t.home, `mark-pipeline-${n + 1}-b`);
  const second = jobInput(firstTime(mark2, 'exit 6'), { maxRestartsOnErrors: 1 });
  const tasks = [
    { ...first, name: 'prep' },
    { ...second, name: 'train' },
  ].map(({ name, candidates, ordered, numNodes, job, recovery }) => ({
    name,
    candidates,
    ordered,
    numNodes,
    job,
    recovery,
  }));
  const inp: ManagedJobInput = { ...first, id: ++n, name: 'pipe', tasks };
  const s = await (await start(inp)).result();
  expect(s.status).toBe('SUCCEEDED');
  // each task used its one restart (max_restarts_on_errors: 1): the budget is per task
  expect(s.tasks!.map((r) => [r.name, r.status, r.firstAttempt])).toEqual([
    ['prep', 'SUCCEEDED', 0],
    ['train', 'SUCCEEDED', 2],
  ]);
  expect(s.attempt).toBe(4);
  expect(taskAttempts(s, 0)).toEqual([1, 2]);
  expect(taskAttempts(s, 1)).toEqual([3, 4]);
  expect(s.events.filter((e) => e.kind === 'restart').map((e) => e.detail)).toEqual([
    'task 0 (prep): run exited with code 5 on rank 0: restart 1 of 1',
    'task 1 (train): run exited with code 6 on rank 0: restart 1 of 1',
  ]);
  expect(f.clouds.alpha!.terminated).toEqual([
    pipelineClusterName(inp.id, 0, 'prep'),
    pipelineClusterName(inp.id, 0, 'prep'),
    pipelineClusterName(inp.id, 1, 'train'),
    pipelineClusterName(inp.id, 1, 'train'),
  ]);
});
