/**
 * The cluster workflow in process: the real workflow bundle on a dev server, activities from
 * createActivities over fake clouds whose provision calls fail with chosen error classes.
 * Failover (which zones were tried, in which order), retry_until_up's backoff timers, autostop.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ErrorClass } from '../../core/errors';
import type { clusterWorkflow } from '../../workflows/cluster';
import { type ClusterWorkflowInput, clusterWorkflowId, downUpdate, statusQuery } from '../../workflows/contract';
import { MAX_SEARCH_GAP_MS, nextSearchGap } from '../../workflows/provision';
import { ANY_RESOURCES, type FakeOffer, type Plan, fakeProviders, where } from '../helpers/fake-cloud';
import { eventually } from '../helpers/skyrun';
import { type WorkflowTestEnv, activitiesOf, createWorkflowTestEnv, timersOf } from '../helpers/workflow-env';

let t: WorkflowTestEnv;

beforeAll(async () => {
  t = await createWorkflowTestEnv();
});

afterAll(async () => {
  await t?.dispose();
});

let n = 0;
function input(over: Partial<ClusterWorkflowInput> = {}): ClusterWorkflowInput {
  return { name: `fo${++n}`, candidates: [ANY_RESOURCES], ordered: false, numNodes: 1, user: 'test', ...over };
}

function start(inp: ClusterWorkflowInput): Promise<WorkflowHandle<typeof clusterWorkflow>> {
  return t.env.client.workflow.start<typeof clusterWorkflow>('clusterWorkflow', {
    workflowId: clusterWorkflowId(inp.name),
    taskQueue: t.taskQueue,
    args: [inp],
  });
}

async function untilUp(h: WorkflowHandle<typeof clusterWorkflow>) {
  return eventually(async () => {
    const s = await h.query(statusQuery);
    return s.status === 'UP' && s;
  }, 30_000);
}

/** The failure type a failed workflow ended with. */
async function failureType(h: WorkflowHandle): Promise<string | undefined> {
  const e = await h.result().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(WorkflowFailedError);
  const cause = (e as WorkflowFailedError).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function byZone(classes: Record<string, ErrorClass>): Plan {
  return ({ zone }) => (zone ? classes[zone] : undefined);
}

test('failover blocks the scope of each error class: capacity a zone, quota-region a region, auth the cloud; transient retries in place', async () => {
  const f = fakeProviders(t.home, {
    alpha: [
      { region: 'r1', zones: ['z1a', 'z1b'], hourlyPrice: 1 },
      // same region, other type: skipped once the region is blocked
      { region: 'r1', zones: ['z1a', 'z1b'], hourlyPrice: 1.5, instanceType: 'fake.large' },
      { region: 'r2', zones: ['z2a'], hourlyPrice: 2 },
      { region: 'r9', zones: ['z9a'], hourlyPrice: 2.5 },
    ],
    beta: [{ region: 'r3', zones: ['z3a'], hourlyPrice: 3 }],
  });
  f.clouds.alpha!.plan = byZone({ z1a: 'capacity', z1b: 'quota-region', z2a: 'auth' });
  f.clouds.beta!.plan = ({ nth }) => (nth === 1 ? 'transient' : undefined);
  const inp = input();
  t.use(f.providers);
  const h = await start(inp);
  const info = await untilUp(h);
  expect(f.calls.map((c) => `${where(c)} ${c.outcome}`)).toEqual([
    'alpha/r1/z1a capacity',
    'alpha/r1/z1b quota-region', // capacity blocked only z1a
    'alpha/r2/z2a auth', // quota-region blocked r1 (fake.large too)
    'beta/r3/z3a transient', // auth blocked alpha (r9 too); transient: the activity retries
    'beta/r3/z3a ok',
  ]);
  expect(info.attempts.map((a) => [a.infra, a.outcome, a.errorClass])).toEqual([
    ['alpha/r1/z1a', 'failed', 'capacity'],
    ['alpha/r1/z1b', 'failed', 'quota-region'],
    ['alpha/r2/z2a', 'failed', 'auth'],
    ['beta/r3/z3a', 'ok', undefined],
  ]);
  expect(info.handle?.offer.region).toBe('r3');
  // every failed attempt ran its compensation
  expect(f.clouds.alpha!.terminated).toEqual([inp.name, inp.name, inp.name]);
  await h.executeUpdate(downUpdate);
  expect((await h.result()).status).toBe('TERMINATED');
  expect(f.clouds.beta!.terminated).toEqual([inp.name]);
});

test.each<ErrorClass>(['config', 'quota-cloud'])('%s blocks the whole cloud', async (cls) => {
  const f = fakeProviders(t.home, {
    alpha: [
      { region: 'r1', zones: ['z1'], hourlyPrice: 1 },
      { region: 'r2', zones: ['z2'], hourlyPrice: 2 },
    ],
    beta: [{ region: 'r3', zones: ['z3'], hourlyPrice: 3 }],
  });
  f.clouds.alpha!.plan = () => cls;
  t.use(f.providers);
  const h = await start(input());
  await untilUp(h);
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1', 'beta/r3/z3']);
  await h.executeUpdate(downUpdate);
  await h.result();
});

test('an unrecognised error blocks only its zone', async () => {
  const f = fakeProviders(t.home, { alpha: [{ region: 'r1', zones: ['z1', 'z2'], hourlyPrice: 1 }] });
  f.clouds.alpha!.plan = byZone({ z1: 'unknown' });
  t.use(f.providers);
  const h = await start(input());
  const info = await untilUp(h);
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1', 'alpha/r1/z2']);
  expect(info.attempts[0]!.errorClass).toBe('unknown');
  await h.executeUpdate(downUpdate);
  await h.result();
});

test('an invalid request stops failover at once', async () => {
  const f = fakeProviders(t.home, {
    alpha: [
      { region: 'r1', zones: ['z1'], hourlyPrice: 1 },
      { region: 'r2', zones: ['z2'], hourlyPrice: 2 },
    ],
    beta: [{ region: 'r3', zones: ['z3'], hourlyPrice: 3 }],
  });
  f.clouds.alpha!.plan = () => 'invalid';
  const inp = input();
  t.use(f.providers);
  const h = await start(inp);
  expect(await failureType(h)).toBe('InvalidRequest');
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1']);
  expect(f.clouds.alpha!.terminated).toEqual([inp.name]);
});

test('without retry_until_up, one round without capacity fails the launch', async () => {
  const f = fakeProviders(t.home, { alpha: [{ region: 'r1', zones: ['z1', 'z2'], hourlyPrice: 1 }] });
  f.clouds.alpha!.plan = () => 'capacity';
  t.use(f.providers);
  const h = await start(input());
  expect(await failureType(h)).toBe('ResourcesUnavailable');
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1', 'alpha/r1/z2']);
  expect(await timersOf(h)).toEqual([]);
});

test('retry_until_up waits with backoff (x1.6) and searches again with an empty blocklist', async () => {
  const zones: FakeOffer = { region: 'r1', zones: ['z1', 'z2'], hourlyPrice: 1 };
  const f = fakeProviders(t.home, { alpha: [zones] });
  // three rounds of two zones find no capacity; the fourth gets the first zone
  f.clouds.alpha!.plan = ({ nth }) => (nth <= 6 ? 'capacity' : undefined);
  t.use(f.providers);
  const h = await start(input({ retryUntilUp: { gapMs: 100 } }));
  await untilUp(h);
  expect(f.calls.map(where)).toEqual([
    ...['alpha/r1/z1', 'alpha/r1/z2'],
    ...['alpha/r1/z1', 'alpha/r1/z2'],
    ...['alpha/r1/z1', 'alpha/r1/z2'],
    'alpha/r1/z1',
  ]);
  expect(await timersOf(h)).toEqual(
    [1, 2, 3].map((round, i) => ({
      ms: [100, 160, 256][i],
      summary: `retry_until_up: round ${round} found no capacity; waiting 0 s`,
    })),
  );
  const optimizes = (await activitiesOf(h)).filter((a) => a.type === 'optimizeOffers').map((a) => a.summary);
  expect(optimizes).toEqual(['optimize', 'optimize (round 2)', 'optimize (round 3)', 'optimize (round 4)']);
  await h.executeUpdate(downUpdate);
  await h.result();
});

test('the retry gap starts where the input says (30 s from the CLI), grows x1.6 and stops at 10 minutes', () => {
  const gaps = [30_000];
  while (gaps.length < 9) gaps.push(nextSearchGap(gaps[gaps.length - 1]!));
  expect(gaps).toEqual([30_000, 48_000, 76_800, 122_880, 196_608, 314_573, 503_317, 600_000, 600_000]);
  expect(MAX_SEARCH_GAP_MS).toBe(600_000);
});

test.each([false, true])('autostop: the idle timer fires and the cluster stops (down: %s)', async (down) => {
  const f = fakeProviders(t.home, { alpha: [{ region: 'r1', zones: ['z1'], hourlyPrice: 1 }] });
  t.use(f.providers);
  // 0.02 min = 1.2 s of idleness
  const inp = input({ autostop: { idleMinutes: 0.02, down } });
  const h = await start(inp);
  await untilUp(h);
  if (down) {
    // the workflow tears the cluster down and ends by itself
    expect((await h.result()).status).toBe('TERMINATED');
    expect(f.clouds.alpha!.terminated).toEqual([inp.name]);
  } else {
    await eventually(async () => (await h.query(statusQuery)).status === 'STOPPED', 30_000);
    expect(f.clouds.alpha!.terminated).toEqual([]);
    // the provider really stopped the nodes (not only the workflow's status)
    expect([...f.clouds.alpha!.stopped]).toEqual([inp.name]);
  }
  const timers = await timersOf(h);
  expect(timers).toHaveLength(1);
  expect(timers[0]!.summary).toBe('autostop in 0 min');
  expect(timers[0]!.ms).toBeGreaterThan(0);
  expect(timers[0]!.ms).toBeLessThanOrEqual(1200);
  if (!down) {
    await h.executeUpdate(downUpdate);
    expect((await h.result()).status).toBe('TERMINATED');
    expect(f.clouds.alpha!.terminated).toEqual([inp.name]);
  }
});
