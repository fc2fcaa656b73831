/**
 * Managed jobs on the sim infra with preemption, through the real CLI, dev server and worker:
 * recovery across regions (with the job's log, task id and continue-as-new), a job that keeps
 * failing (the CLI's exit code and the queue's reason), cancel while recovering, and crashes of
 * the worker and of the dev server mid-job. The recovery rules themselves (strategies, restart
 * budget, recover_on_exit_codes, no-capacity waits) are tested in process, in
 * test/workflows/managed-job.test.ts; their YAML in test/task/.
 */
import { managedClusterName } from '../core/names';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { readSimInstances } from '../activities/infra/clouds/sim';
import { SkyrunEnv, eventually, killAndWait } from './helpers/skyrun';
import { homeLines, liveInstances, managedSimEnv, writeSimConfig } from './helpers/sim';

let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await managedSimEnv('managed');
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

function file(name: string): string {
  return path.join(sr.home, name);
}

const lines = (name: string) => homeLines(sr, name);

/** The regions the job's clusters ran in, in order (the sim's instance list). */
function regionsOf(cluster: string): string[] {
  return readSimInstances(sr.home)
    .filter((i) => i.cluster === cluster)
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((i) => i.region);
}

/** The managed job id a `jobs launch` printed. */
function jobId(stderr: string): number {
  return Number(/Managed job (\d+) \(/.exec(stderr)![1]);
}

function queueRow(stdout: string, id: number): string {
  return stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
}

test('a spot job preempted twice recovers in another region each time and succeeds once (EAGER_NEXT_REGION)', async () => {
  writeSimConfig(sr, { preempt_after_ms: 2500, max_preemptions: 2 });
  const script = [
    `echo "$SKYPILOT_TASK_ID" >> ${file('eager-task-ids')}`,
    'for i in 1 2 3 4 5 6; do echo "step-$i"; sleep 1; done',
    `echo done >> ${file('eager-done')}`,
  ].join('; ');
  const r = await sr.run([
    'jobs',
    'launch',
    '-y',
    '-n',
    'eager',
    '--infra',
    'sim',
    '--gpus',
    'A100:8',
    '--use-spot',
    '--',
    script,
  ]);
  expect(r.stderr).toContain('preempted');
  expect(r.code).toBe(0);
  const q = await sr.run(['jobs', 'queue']);
  const id = jobId(r.stderr);
  expect(queueRow(q.stdout, id)).toMatch(/^\d+\s+-\s+eager\s+1x sim\/\S+ p4d\.24xlarge spot\s.*\s2\s+SUCCEEDED$/);
  expect(lines('eager-done')).toEqual(['done']);
  const ids = lines('eager-task-ids');
  expect(ids).toHaveLength(3);
  expect(new Set(ids).size).toBe(1); // SKYPILOT_TASK_ID is stable across recoveries
  const regions = regionsOf(managedClusterName(id, 'eager'));
  expect(regions).toHaveLength(3);
  expect(regions[1]).not.toBe(regions[0]);
  expect(regions[2]).not.toBe(regions[1]);
  expect(liveInstances(sr)).toEqual([]);
  // one continuous log across the recoveries: every attempt's steps, in order
  const logs = await sr.run(['jobs', 'logs', String(id)]);
  expect(logs.code).toBe(0);
  const steps = logs.stdout.split('\n').filter((l) => l.startsWith('step-'));
  expect(steps.slice(-6)).toEqual(['step-1', 'step-2', 'step-3', 'step-4', 'step-5', 'step-6']);
  expect(steps.filter((l) => l === 'step-1')).toHaveLength(3);
  // the managed job's history continued as new at least once (threshold 40 events)
  const runs: string[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = 'managed-job/${id}'` })) runs.push(wf.runId);
  expect(runs.length).toBeGreaterThan(1);
});

test('a job that keeps failing: restarted once (max_restarts_on_errors: 1), then FAILED with the reason in the queue, exit 100, nothing left', async () => {
  writeSimConfig(sr, {});
  const yaml = file('restarts.yaml');
  writeFileSync(
    yaml,
    [
      'name: flaky',
      'resources:',
      '  infra: sim',
      '  cpus: 2+',
      '  job_recovery: {max_restarts_on_errors: 1}',
      'run: |',
      `  echo run >> ${file('flaky-runs')}`,
      '  exit 3',
      '',
    ].join('\n'),
  );
  const r = await sr.run(['jobs', 'launch', '-y', yaml]);
  expect(r.code).toBe(100);
  expect(lines('flaky-runs')).toHaveLength(2);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, jobId(r.stderr))).toMatch(
    /\s0\s+FAILED \(run exited with code 3 on rank 0\)$/,
  );
  expect(liveInstances(sr)).toEqual([]);
});

test('cancel while RECOVERING tears down the cluster being launched: zero live instances', async () => {
  writeSimConfig(sr, { preempt_after_ms: 1500, max_preemptions: 1 });
  const r = await sr.run([
    'jobs',
    'launch',
    '-y',
    '-d',
    '-n',
    'doomed',
    '--infra',
    'sim',
    '--gpus',
    'A100:8',
    '--use-spot',
    '--',
    'sleep 60',
  ]);
  expect(r.code).toBe(0);
  const id = jobId(r.stderr);
  await eventually(() => liveInstances(sr, managedClusterName(id, 'doomed')).length === 1);
  // the recovery's create hangs, so the job stays RECOVERING with an instance being created
  writeSimConfig(sr, { create_delay_ms: 120_000 });
  await eventually(async () => queueRow((await sr.run(['jobs', 'queue'])).stdout, id).endsWith('RECOVERING'), 60_000);
  await eventually(
    () => readSimInstances(sr.home).filter((i) => i.cluster === managedClusterName(id, 'doomed')).length === 2,
  );
  const c = await sr.run(['jobs', 'cancel', '-y', String(id)]);
  expect(c.stderr).toContain(`Managed job ${id}: CANCELLED`);
  expect(liveInstances(sr, managedClusterName(id, 'doomed'))).toEqual([]);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, id)).toMatch(/CANCELLED$/);
});

test('the worker and the dev server killed and restarted mid-job: the job completes once', async () => {
  writeSimConfig(sr, {});
  const script = `echo start >> ${file('crash-runs')}; for i in $(seq 1 12); do echo tick-$i; sleep 0.5; done; echo end >> ${file('crash-runs')}`;
  const launched = await sr.run([
    'jobs',
    'launch',
    '-y',
    '-d',
    '-n',
    'survivor',
    '--infra',
    'sim',
    '--cpus',
    '2+',
    '--',
    script,
  ]);
  expect(launched.code).toBe(0);
  const id = jobId(launched.stderr);
  await eventually(() => lines('crash-runs').length === 1);
  // everything of SkyRun on this machine dies at once: the worker's supervisor, the worker, the server
  await killAndWait((JSON.parse(readFileSync(file('worker-supervisor.json'), 'utf8')) as { pid: number }).pid);
  await sr.killWorker();
  await sr.killServer();
  const restart = await sr.run(['server', 'start']);
  expect({ code: restart.code, stderr: restart.stderr }).toEqual({ code: 0, stderr: '' });
  expect(restart.stdout).toMatch(/^Started/);
  const logs = await sr.run(['jobs', 'logs', String(id)]);
  expect(logs.code).toBe(0);
  expect(logs.stdout).toContain('tick-12');
  expect(lines('crash-runs')).toEqual(['start', 'end']);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, id)).toMatch(/\s0\s+SUCCEEDED$/);
  expect(liveInstances(sr)).toEqual([]);
});
