/**
 * Continue-as-new in process: the dev server suggests it after 40 events, and the cluster and
 * managed-job workflows carry their state into the next run (jobs, ids, the cluster itself).
 */
import { readFileSync } from 'node:fs';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { isTerminal } from '../../core/states';
import type { clusterWorkflow } from '../../workflows/cluster';
import {
  clusterWorkflowId,
  downUpdate,
  managedJobWorkflowId,
  statusQuery,
  submitJobUpdate,
} from '../../workflows/contract';
import type { managedJobWorkflow } from '../../workflows/managed-job';
import { ANY_RESOURCES, fakeProviders, where } from '../helpers/fake-cloud';
import { eventually } from '../helpers/skyrun';
import { type WorkflowTestEnv, createWorkflowTestEnv } from '../helpers/workflow-env';

let t: WorkflowTestEnv;

beforeAll(async () => {
  t = await createWorkflowTestEnv({ suggestContinueAsNewAt: 40 });
});

afterAll(async () => {
  await t?.dispose();
});

const JOB = { envs: {}, secrets: {}, numGpusPerNode: 0, cpuDemand: 0.5 };

/** Whether the run `h` started with has continued as new. */
async function continued(h: WorkflowHandleWithFirstExecutionRunId): Promise<boolean> {
  const first = t.env.client.workflow.getHandle(h.workflowId, h.firstExecutionRunId);
  return (await first.describe()).status.name === 'CONTINUED_AS_NEW';
}

test('the cluster continues as new and keeps its jobs, job ids and nodes', async () => {
  const f = fakeProviders(t.home, { alpha: [{ region: 'r1', zones: ['z1'], hourlyPrice: 1 }] });
  t.use(f.providers);
  const name = 'can';
  const h = await t.env.client.workflow.start<typeof clusterWorkflow>('clusterWorkflow', {
    workflowId: clusterWorkflowId(name),
    taskQueue: t.taskQueue,
    args: [{ name, candidates: [ANY_RESOURCES], ordered: false, numNodes: 1, user: 'test' }],
  });
  await eventually(async () => (await h.query(statusQuery)).status === 'UP', 30_000);
  let submitted = 0;
  // a few short jobs grow the history past the threshold
  while (!(await continued(h))) {
    expect(submitted).toBeLessThan(10);
    const { jobId } = await h.executeUpdate(submitJobUpdate, { args: [{ ...JOB, run: 'true' }] });
    submitted++;
    expect(jobId).toBe(submitted);
    await eventually(async () => {
      const job = (await h.query(statusQuery)).jobs.find((j) => j.id === jobId);
      return job && isTerminal(job.status);
    }, 30_000);
  }
  // the first run handed its nodes over: nothing was torn down
  expect(f.clouds.alpha!.terminated).toEqual([]);
  const latest = t.env.client.workflow.getHandle<typeof clusterWorkflow>(h.workflowId);
  const info = await latest.query(statusQuery);
  expect(info.status).toBe('UP');
  expect(info.jobs.map((j) => [j.id, j.status])).toEqual(
    Array.from({ length: submitted }, (_, i) => [i + 1, 'SUCCEEDED']),
  );
  // the next job gets the next id and runs on the same nodes: nothing was provisioned again
  const { jobId } = await latest.executeUpdate(submitJobUpdate, { args: [{ ...JOB, run: 'true' }] });
  expect(jobId).toBe(submitted + 1);
  await eventually(async () => {
    const job = (await latest.query(statusQuery)).jobs.find((j) => j.id === jobId);
    return job?.status === 'SUCCEEDED';
  }, 30_000);
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1']);
  await latest.executeUpdate(downUpdate);
  expect((await latest.result()).status).toBe('TERMINATED');
  expect(f.clouds.alpha!.terminated).toEqual([name]);
});

test('a long-watched managed job continues as new, re-attaches to its process and finishes once', async () => {
  const f = fakeProviders(t.home, { alpha: [{ region: 'r1', zones: ['z1'], hourlyPrice: 1 }] });
  t.use(f.providers);
  const id = 1;
  const h = await t.env.client.workflow.start<typeof managedJobWorkflow>('managedJobWorkflow', {
    workflowId: managedJobWorkflowId(id),
    taskQueue: t.taskQueue,
    args: [
      {
        id,
        name: 'mjcan',
        candidates: [ANY_RESOURCES],
        ordered: false,
        numNodes: 1,
        // the watch ticks (1 s, backing off) of a 5 s job pass 40 events
        job: { ...JOB, run: `echo started >> ${t.home}/runs; sleep 5` },
        recovery: { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 0, recoverOnExitCodes: [] },
        user: 'test',
        retryGapMs: 100,
      },
    ],
  });
  const s = await h.result();
  expect(await continued(h)).toBe(true);
  expect(s.status).toBe('SUCCEEDED');
  expect(s.attempt).toBe(1);
  expect(s.events.map((e) => e.kind)).toEqual(['launched', 'succeeded']);
  // the job's time spans the runs
  expect(s.jobDurationMs).toBeGreaterThanOrEqual(4_000);
  expect(f.calls.map(where)).toEqual(['alpha/r1/z1']);
  expect(f.clouds.alpha!.terminated).toEqual(['1-mjcan']);
  // the process was started once, not again by the next run
  expect(readFileSync(`${t.home}/runs`, 'utf8').trim().split('\n')).toEqual(['started']);
});
