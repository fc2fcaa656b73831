/**
 * Provisioning with failover on the sim infra, through the real CLI, dev server and worker: the
 * sim's faults as the CLI reports them (its attempt lines and table), the attempts' summaries and
 * search attributes, cancel and down during provisioning, and `-r` reaching the workflow. What
 * each error class blocks, transient retries and retry_until_up's backoff are tested in process,
 * in test/workflows/cluster.test.ts.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { SkyrunEnv, eventually } from './helpers/skyrun';
import { activitiesOf, timersOf } from './helpers/workflow-env';
import { liveInstances, simEnv, writeSimConfig } from './helpers/sim';

let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await simEnv('failover');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

/** The provision attempts of a cluster workflow, as their activity summaries say. */
async function provisionSummaries(cluster: string): Promise<Array<string | undefined>> {
  const activities = await activitiesOf(client.workflow.getHandle(`cluster/${cluster}`));
  return activities.filter((a) => a.type === 'provision').map((a) => a.summary);
}

const A100 = ['--infra', 'sim', '--gpus', 'A100:8'];

test('capacity: the zones of the cheapest region, then the next cheapest region; the task runs', async () => {
  writeSimConfig(sr, { capacity_errors: ['us-east-2/use2-az1', 'us-east-2/use2-az2'] });
  const r = await sr.run(['launch', '-y', '-c', 'fo', ...A100, '--', 'echo ran on $SKYPILOT_NUM_NODES node']);
  expect(r.stdout).toContain('ran on 1 node');
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/✗ sim\/us-east-2\/use2-az1 p4d\.24xlarge: capacity: InsufficientInstanceCapacity/);
  expect(r.stderr).toMatch(/✗ sim\/us-east-2\/use2-az2 p4d\.24xlarge: capacity/);
  expect(r.stderr).toMatch(/✓ sim\/us-west-2\/usw2-az1 p4d\.24xlarge/);
  expect(await provisionSummaries('fo')).toEqual([
    'provision sim/us-east-2/use2-az1 p4d.24xlarge (offer 1 of 4)',
    'provision sim/us-east-2/use2-az2 p4d.24xlarge (offer 1 of 4)',
    'provision sim/us-west-2/usw2-az1 p4d.24xlarge (offer 2 of 4)',
  ]);
  const live = liveInstances(sr, 'fo');
  expect(live.map((i) => `${i.region}/${i.zone}`)).toEqual(['us-west-2/usw2-az1']);
  const found: string[] = [];
  for await (const wf of client.workflow.list({
    query: `ClusterName = 'fo' AND Cloud = 'sim' AND Region = 'us-west-2' AND Phase = 'Up'`,
  })) {
    found.push(wf.workflowId);
  }
  expect(found).toEqual(['cluster/fo']);
  expect((await sr.run(['down', '-y', 'fo'])).code).toBe(0);
  expect(liveInstances(sr)).toEqual([]);
});

test('quota-region blocks the whole region; unknown errors block the zone and say so', async () => {
  writeSimConfig(sr, { quota_errors: ['us-east-2'], unknown_error_zones: ['us-west-2/usw2-az1'] });
  const r = await sr.run(['launch', '-y', '-c', 'quota', ...A100, '--', 'true']);
  expect(r.code).toBe(0);
  expect(await provisionSummaries('quota')).toEqual([
    'provision sim/us-east-2/use2-az1 p4d.24xlarge (offer 1 of 4)',
    'provision sim/us-west-2/usw2-az1 p4d.24xlarge (offer 2 of 4)',
    'provision sim/us-west-2/usw2-az2 p4d.24xlarge (offer 2 of 4)',
  ]);
  expect(r.stderr).toMatch(/✗ sim\/us-east-2\/use2-az1 p4d\.24xlarge: quota-region: VcpuLimitExceeded/);
  expect(r.stderr).toMatch(/✗ sim\/us-west-2\/usw2-az1 p4d\.24xlarge: unknown: unrecognised error/);
  expect((await sr.run(['down', '-y', 'quota'])).code).toBe(0);
});

test('auth stops the whole cloud after one attempt: the CLI prints the table of attempts, nothing leaks', async () => {
  writeSimConfig(sr, { auth_error: true });
  const r = await sr.run(['launch', '-y', '-c', 'stop-auth', ...A100, '--', 'true']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`Failed to provision 'stop-auth' on every candidate`);
  expect(r.stderr).toMatch(/INFRA\s+INSTANCE\s+REASON/);
  expect(r.stderr).toMatch(/auth: AuthFailure/);
  expect(await provisionSummaries('stop-auth')).toHaveLength(1);
  expect((await client.workflow.getHandle('cluster/stop-auth').describe()).status.name).toBe('FAILED');
  expect(liveInstances(sr, 'stop-auth')).toEqual([]);
});

test.each(['cancel', 'down'])('%s during provisioning tears down what was created; nothing is left', async (how) => {
  writeSimConfig(sr, { create_delay_ms: 60_000 });
  const name = `slow-${how}`;
  expect((await sr.run(['launch', '-y', '-d', '-c', name, ...A100, '--', 'true'])).code).toBe(0);
  await eventually(() => liveInstances(sr, name).length === 1);
  const handle = client.workflow.getHandle(`cluster/${name}`);
  if (how === 'cancel') await handle.cancel();
  else expect((await sr.run(['down', '-y', name])).code).toBe(0);
  await eventually(async () => (await handle.describe()).status.name !== 'RUNNING');
  expect((await handle.describe()).status.name).toBe(how === 'cancel' ? 'CANCELLED' : 'COMPLETED');
  expect(liveInstances(sr, name)).toEqual([]);
  const nodes = path.join(sr.home, 'sim', 'nodes');
  expect(existsSync(nodes) ? readdirSync(nodes) : []).toEqual([]);
});

test('-r reaches the workflow: a round without capacity waits (SKYRUN_RETRY_UNTIL_UP_GAP_SECONDS) and searches again', async () => {
  writeSimConfig(sr, { capacity_errors: ['*'] });
  const child = sr.spawn(['launch', '-y', '-r', '-c', 'patient', ...A100, '--', 'echo finally up'], {
    env: { SKYRUN_RETRY_UNTIL_UP_GAP_SECONDS: '1' },
  });
  const handle = client.workflow.getHandle('cluster/patient');
  // every zone failed once and the workflow waits instead of failing
  const timers = await eventually(async () => {
    const t = await timersOf(handle).catch(() => []);
    return t.length > 0 && t;
  });
  expect(timers[0]!.ms).toBe(1000);
  expect(timers[0]!.summary).toMatch(/^retry_until_up: round 1 found no capacity/);
  expect(liveInstances(sr, 'patient')).toEqual([]);
  writeSimConfig(sr, {});
  const r = await child.result;
  expect(r.stdout).toContain('finally up');
  expect(r.code).toBe(0);
  expect(liveInstances(sr, 'patient')).toHaveLength(1);
  expect((await sr.run(['down', '-y', 'patient'])).code).toBe(0);
  expect(existsSync(path.join(sr.home, 'clusters', 'patient'))).toBe(false);
});
