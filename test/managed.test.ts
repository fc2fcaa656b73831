/**
 * Managed jobs on the sim infra with preemption, through the real CLI, dev server and worker:
 * recovery strategies, restarts, recover_on_exit_codes, cancel while recovering, and crashes of
 * the worker and of the dev server mid-job.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { readSimInstances } from '../activities/infra/clouds/sim';
import { SkyrunEnv, eventually, sleep } from './helpers/skyrun';
import { liveInstances, simEnv, writeSimConfig } from './helpers/sim';

let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await simEnv('managed');
  // continue-as-new really happens: the server suggests it after 40 events
  sr.env.SKYRUN_SERVER_ARGS = '--dynamic-config-value limit.historyCount.suggestContinueAsNew=40';
  sr.env.SKYRUN_RETRY_UNTIL_UP_GAP_SECONDS = '1';
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

function file(name: string): string {
  return path.join(sr.home, name);
}

function lines(name: string): string[] {
  return existsSync(file(name)) ? readFileSync(file(name), 'utf8').trim().split('\n').filter(Boolean) : [];
}

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
  expect(queueRow(q.stdout, id)).toMatch(/^1\s+eager\s+1x sim\/\S+ p4d\.24xlarge spot\s.*\s2\s+SUCCEEDED$/);
  expect(lines('eager-done')).toEqual(['done']);
  const ids = lines('eager-task-ids');
  expect(ids).toHaveLength(3);
  expect(new Set(ids).size).toBe(1); // SKYPILOT_TASK_ID is stable across recoveries
  const regions = regionsOf(`eager-${id}`);
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

test('FAILOVER recovers in the same region when it has capacity', async () => {
  writeSimConfig(sr, { preempt_after_ms: 2000, max_preemptions: 1 });
  const yaml = file('failover.yaml');
  require('node:fs').writeFileSync(
    yaml,
    [
      'name: same',
      'resources:',
      '  infra: sim',
      '  accelerators: A100:8',
      '  use_spot: true',
      '  job_recovery: FAILOVER',
      'run: sleep 4',
      '',
    ].join('\n'),
  );
  const r = await sr.run(['jobs', 'launch', '-y', yaml]);
  expect(r.code).toBe(0);
  const id = jobId(r.stderr);
  const regions = regionsOf(`same-${id}`);
  expect(regions).toHaveLength(2);
  expect(regions[1]).toBe(regions[0]);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, id)).toMatch(/\s1\s+SUCCEEDED$/);
});

test('an exit code in recover_on_exit_codes recovers without using the restart budget', async () => {
  writeSimConfig(sr, {});
  const yaml = file('exitcodes.yaml');
  require('node:fs').writeFileSync(
    yaml,
    [
      'name: codes',
      'resources:',
      '  infra: sim',
      '  cpus: 2+',
      '  job_recovery: {max_restarts_on_errors: 0, recover_on_exit_codes: [75]}',
      'run: |',
      `  echo run >> ${file('codes-runs')}`,
      `  if [ ! -f ${file('codes-marker')} ]; then touch ${file('codes-marker')}; exit 75; fi`,
      '  echo second time lucky',
      '',
    ].join('\n'),
  );
  const r = await sr.run(['jobs', 'launch', '-y', yaml]);
  expect(r.stdout).toContain('second time lucky');
  expect(r.code).toBe(0);
  expect(lines('codes-runs')).toEqual(['run', 'run']);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, jobId(r.stderr))).toMatch(/\s1\s+SUCCEEDED$/);
});

test('user failures restart up to max_restarts_on_errors, then FAILED (exit 100), nothing left', async () => {
  const yaml = file('restarts.yaml');
  require('node:fs').writeFileSync(
    yaml,
    [
      'name: flaky',
      'resources:',
      '  infra: sim',
      '  cpus: 2+',
      '  job_recovery: {max_restarts_on_errors: 2}',
      'run: |',
      `  echo run >> ${file('flaky-runs')}`,
      '  exit 3',
      '',
    ].join('\n'),
  );
  const r = await sr.run(['jobs', 'launch', '-y', yaml]);
  expect(r.code).toBe(100);
  expect(lines('flaky-runs')).toHaveLength(3);
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
  await eventually(() => liveInstances(sr, `doomed-${id}`).length === 1);
  // the recovery's create hangs, so the job stays RECOVERING with an instance being created
  writeSimConfig(sr, { create_delay_ms: 120_000 });
  await eventually(async () => queueRow((await sr.run(['jobs', 'queue'])).stdout, id).endsWith('RECOVERING'), 60_000);
  await eventually(() => readSimInstances(sr.home).filter((i) => i.cluster === `doomed-${id}`).length === 2);
  const c = await sr.run(['jobs', 'cancel', String(id)]);
  expect(c.stderr).toContain(`Managed job ${id}: CANCELLED`);
  expect(liveInstances(sr, `doomed-${id}`)).toEqual([]);
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
  process.kill(sr.workerPid()!, 'SIGKILL');
  const server = JSON.parse(readFileSync(path.join(sr.home, 'server', 'server.json'), 'utf8')) as { pid: number };
  process.kill(server.pid, 'SIGKILL');
  await sleep(1000);
  expect((await sr.run(['server', 'start'])).stdout).toMatch(/^Started/);
  const logs = await sr.run(['jobs', 'logs', String(id)]);
  expect(logs.code).toBe(0);
  expect(logs.stdout).toContain('tick-12');
  expect(lines('crash-runs')).toEqual(['start', 'end']);
  expect(queueRow((await sr.run(['jobs', 'queue'])).stdout, id)).toMatch(/\s0\s+SUCCEEDED$/);
  expect(liveInstances(sr)).toEqual([]);
});
