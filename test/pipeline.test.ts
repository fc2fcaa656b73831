/**
 * Managed-job pipelines on the sim infra, through the real CLI, dev server and worker: the tasks
 * of one multi-document file run in order as one managed job, each on a cluster of its own; a
 * failing task fails the job and the tasks after it never start (CANCELLED); a preempted task
 * recovers and the pipeline goes on; cancel and logs (of the job, or of one task); `launch` and
 * `exec` refuse a pipeline. The parser is tested in test/task/pipeline.test.ts.
 *
 * SKYRUN_RECORD_HISTORY=1 writes the first run (up to its continue-as-new) of the three-task job to test/histories/ (replayed by
 * test/replay.test.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { readSimInstances } from '../activities/infra/clouds/sim';
import { pipelineClusterName } from '../core/managed';
import { REPO, SkyrunEnv, eventually } from './helpers/skyrun';
import { homeLines, liveInstances, managedSimEnv, writeSimConfig } from './helpers/sim';

let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await managedSimEnv('pipeline');
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

function file(name: string): string {
  return path.join(sr.home, name);
}

const lines = (name: string) => homeLines(sr, name);

/** A task document: its name, resources and a run script. */
function taskDoc(name: string, run: string[], resources = '{infra: sim, cpus: 2+}'): string {
  return [`name: ${name}`, `resources: ${resources}`, 'run: |', ...run.map((l) => `  ${l}`)].join('\n');
}

/** Writes a pipeline file of a header and `tasks` documents; returns its path. */
function pipelineFile(name: string, tasks: string[]): string {
  const f = file(`${name}.yaml`);
  writeFileSync(f, [`name: ${name}`, ...tasks].join('\n---\n') + '\n');
  return f;
}

function jobId(stderr: string): number {
  return Number(/Managed job (\d+) \(/.exec(stderr)![1]);
}

/**
 * Writes two runs of the job's history to test/histories/: the first (from the start to its
 * continue-as-new, which comes when a task is done) and the second (from the carried state of a
 * pipeline past its first task).
 */
async function recordHistories(id: number, runs: Array<{ runId: string; at: number }>): Promise<void> {
  const sorted = runs.sort((a, b) => a.at - b.at);
  for (const [i, name] of ['start', 'carried'].entries()) {
    const history = await client.workflow.getHandle(`managed-job/${id}`, sorted[i]!.runId).fetchHistory();
    const file = path.join(REPO, 'test', 'histories', `managed-pipeline-three-tasks-${name}.json`);
    writeFileSync(file, historyToJSON(history));
  }
}

/** The job's row and its task rows from `jobs queue`. */
async function queueRows(id: number): Promise<{ job: string; tasks: string[] }> {
  const out = (await sr.run(['jobs', 'queue'])).stdout.split('\n');
  const at = out.findIndex((l) => l.startsWith(`${id} `));
  const tasks: string[] = [];
  for (let i = at + 1; i < out.length && out[i]!.startsWith(' ↳'); i++) tasks.push(out[i]!);
  return { job: out[at] ?? '', tasks };
}

/** The clusters the sim created for the job, in creation order (one name per cluster). */
function clustersOf(id: number): string[] {
  const names = readSimInstances(sr.home)
    .filter((i) => i.cluster.startsWith(`${id}-`))
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((i) => i.cluster);
  return [...new Set(names)];
}

test('three tasks run in order, each on its own cluster; the queue shows a row per task; logs of all or one task', async () => {
  writeSimConfig(sr, {});
  const step = (n: string) => [`echo "${n} $SKYPILOT_TASK_ID $SKYPILOT_TASK_IDS" >> ${file('order')}`, `echo out-${n}`];
  const f = pipelineFile('abc', [
    taskDoc('prep', step('prep')),
    taskDoc('train', step('train'), '{infra: sim, accelerators: A100:8}'),
    taskDoc('eval', step('eval')),
  ]);
  const r = await sr.run(['jobs', 'launch', '-y', f]);
  expect(r.stderr).toContain('SUCCEEDED');
  expect(r.code).toBe(0);
  const id = jobId(r.stderr);
  const order = lines('order');
  expect(order.map((l) => l.split(' ')[0])).toEqual(['prep', 'train', 'eval']);
  // each task has its own SKYPILOT_TASK_ID
  expect(new Set(order.map((l) => l.split(' ')[1])).size).toBe(3);
  // and sees every task's, in order (SKYPILOT_TASK_IDS)
  const ids = order.map((l) => l.split(' ')[1]).join(',');
  expect(order.map((l) => l.split(' ')[2])).toEqual([ids, ids, ids]);
  // each task on a cluster of its own, with its own resources, all torn down
  expect(clustersOf(id)).toEqual([
    pipelineClusterName(id, 0, 'prep'),
    pipelineClusterName(id, 1, 'train'),
    pipelineClusterName(id, 2, 'eval'),
  ]);
  expect(liveInstances(sr)).toEqual([]);
  const q = await queueRows(id);
  expect(q.job).toMatch(new RegExp(`^${id}\\s+abc\\s+-\\s.*\\s0\\s+SUCCEEDED$`));
  expect(q.tasks).toHaveLength(3);
  expect(q.tasks[0]).toMatch(/^ ↳\s+0\s+prep\s+1x sim\/\S+ \S+\s.*\s0\s+SUCCEEDED$/);
  expect(q.tasks[1]).toMatch(/^ ↳\s+1\s+train\s+1x sim\/\S+ p4d\.24xlarge\s.*\s0\s+SUCCEEDED$/);
  expect(q.tasks[2]).toMatch(/^ ↳\s+2\s+eval\s.*SUCCEEDED$/);
  // the job's log: every task's output, in order; --task: that task's only
  const all = await sr.run(['jobs', 'logs', String(id)]);
  expect(all.code).toBe(0);
  expect(all.stdout.split('\n').filter((l) => l.startsWith('out-'))).toEqual(['out-prep', 'out-train', 'out-eval']);
  const one = await sr.run(['jobs', 'logs', String(id), '--task', 'train']);
  expect(one.code).toBe(0);
  expect(one.stdout.split('\n').filter((l) => l.startsWith('out-'))).toEqual(['out-train']);
  const byIndex = await sr.run(['jobs', 'logs', String(id), '--task', '2']);
  expect(byIndex.stdout.split('\n').filter((l) => l.startsWith('out-'))).toEqual(['out-eval']);
  const none = await sr.run(['jobs', 'logs', String(id), '--task', 'nope']);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('0 (prep), 1 (train), 2 (eval)');
  // the job's history continued as new (the state of the pipeline carried across)
  const runs: Array<{ runId: string; at: number }> = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = 'managed-job/${id}'` })) {
    runs.push({ runId: wf.runId, at: wf.startTime.getTime() });
  }
  expect(runs.length).toBeGreaterThan(1);
  if (process.env.SKYRUN_RECORD_HISTORY) await recordHistories(id, runs);
});

test('a failing middle task fails the job (exit 100); the last task never starts and shows CANCELLED', async () => {
  writeSimConfig(sr, {});
  const f = pipelineFile('fails', [
    taskDoc('first', [`echo first >> ${file('fails-ran')}`]),
    taskDoc('middle', [`echo middle >> ${file('fails-ran')}`, 'exit 7']),
    taskDoc('last', [`echo last >> ${file('fails-ran')}`]),
  ]);
  const r = await sr.run(['jobs', 'launch', '-y', f]);
  expect(r.code).toBe(100);
  const id = jobId(r.stderr);
  expect(lines('fails-ran')).toEqual(['first', 'middle']);
  expect(clustersOf(id)).toEqual([pipelineClusterName(id, 0, 'first'), pipelineClusterName(id, 1, 'middle')]);
  expect(liveInstances(sr)).toEqual([]);
  const q = await queueRows(id);
  expect(q.job).toMatch(/\sFAILED \(run exited with code 7 on rank 0\)$/);
  expect(q.tasks[0]).toMatch(/\sSUCCEEDED$/);
  expect(q.tasks[1]).toMatch(/\sFAILED \(run exited with code 7 on rank 0\)$/);
  expect(q.tasks[2]).toMatch(/^ ↳\s+2\s+last\s+-\s.*\s0\s+CANCELLED$/);
});

test('a preempted spot task recovers (its own job_recovery) and the pipeline goes on', async () => {
  writeSimConfig(sr, { preempt_after_ms: 2000, max_preemptions: 1 });
  const f = pipelineFile('spotty', [
    taskDoc(
      'long',
      [`echo long >> ${file('spotty-ran')}`, 'for i in 1 2 3 4 5; do sleep 1; done'],
      '{infra: sim, accelerators: A100:8, use_spot: true, job_recovery: FAILOVER}',
    ),
    taskDoc('after', [`echo after >> ${file('spotty-ran')}`]),
  ]);
  const r = await sr.run(['jobs', 'launch', '-y', f]);
  expect(r.stderr).toContain('preempted');
  expect(r.code).toBe(0);
  const id = jobId(r.stderr);
  expect(lines('spotty-ran')).toEqual(['long', 'long', 'after']);
  const q = await queueRows(id);
  expect(q.job).toMatch(/\s1\s+SUCCEEDED$/);
  expect(q.tasks[0]).toMatch(/^ ↳\s+0\s+long\s.*spot\s.*\s1\s+SUCCEEDED$/);
  expect(q.tasks[1]).toMatch(/^ ↳\s+1\s+after\s.*\s0\s+SUCCEEDED$/);
  // the recovery relaunched task 0's cluster; task 1 got a cluster of its own once
  const created = readSimInstances(sr.home).filter((i) => i.cluster.startsWith(`${id}-`));
  expect(created.filter((i) => i.cluster === pipelineClusterName(id, 0, 'long'))).toHaveLength(2);
  expect(created.filter((i) => i.cluster === pipelineClusterName(id, 1, 'after'))).toHaveLength(1);
  expect(liveInstances(sr)).toEqual([]);
});

test('cancel while the second task runs: job CANCELLED, the task and the rest CANCELLED, nothing left', async () => {
  writeSimConfig(sr, {});
  const f = pipelineFile('stopme', [
    taskDoc('one', ['true']),
    taskDoc('two', [`echo two >> ${file('stopme-ran')}`, 'sleep 120']),
    taskDoc('three', [`echo three >> ${file('stopme-ran')}`]),
  ]);
  const r = await sr.run(['jobs', 'launch', '-y', '-d', f]);
  expect(r.code).toBe(0);
  const id = jobId(r.stderr);
  await eventually(() => lines('stopme-ran').length === 1, 90_000);
  const c = await sr.run(['jobs', 'cancel', '-y', String(id)]);
  expect(c.stderr).toContain(`Managed job ${id}: CANCELLED`);
  expect(liveInstances(sr)).toEqual([]);
  const q = await queueRows(id);
  expect(q.job).toMatch(/\sCANCELLED$/);
  expect(q.tasks.map((t) => t.split(/\s+/).pop())).toEqual(['SUCCEEDED', 'CANCELLED', 'CANCELLED']);
  expect(lines('stopme-ran')).toEqual(['two']);
});

test('launch and exec of a pipeline say to use `skyrun jobs launch` (exit 2, nothing started)', async () => {
  const f = pipelineFile('nope', [taskDoc('a', ['true']), taskDoc('b', ['true'])]);
  const before = readSimInstances(sr.home).length;
  for (const args of [
    ['launch', '-y', f],
    ['launch', '--dryrun', f],
    ['exec', 'some-cluster', f],
  ]) {
    const r = await sr.run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`a pipeline of 2 tasks`);
    expect(r.stderr).toContain(`skyrun jobs launch ${f}`);
  }
  expect(readSimInstances(sr.home)).toHaveLength(before);
});

test('an invalid task in a pipeline: jobs launch names the file and line in the whole file (exit 2)', async () => {
  const f = pipelineFile('badtask', [taskDoc('a', ['true']), 'name: b\nresources: {infra: sim, cpus: lots}\nrun: x']);
  const r = await sr.run(['jobs', 'launch', '-y', f]);
  expect(r.code).toBe(2);
  // line 1 header, 2 ---, 3-6 task a, 7 ---, 8 name: b, 9 resources
  expect(r.stderr).toContain(`${f}:9:`);
  expect(r.stderr).toContain('resources.cpus');
});
