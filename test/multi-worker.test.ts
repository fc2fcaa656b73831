/**
 * Many workers on a production-shaped Temporal: the real server on PostgreSQL
 * (scripts/temporal-pg.ts), three `skyrun worker` processes sharing SkyRun's task queue through
 * TEMPORAL_ADDRESS, the sim infra. The worker doing the work is SIGKILLed mid-provision (a slow
 * create), mid-setup, and mid-recovery (a preempted managed job's new create); another finishes it
 * exactly once: the job ran once per node (marker files), and no sim instance is left over. Then a
 * rolling restart of every worker, one by one, while clusters launch, loses nothing.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { readSimInstances } from '../activities/infra/clouds/sim';
import { managedClusterName } from '../core/names';
import { liveInstances, simEnv, writeSimConfig } from './helpers/sim';
import { type SkyrunEnv, eventually } from './helpers/skyrun';
import {
  type TemporalPg,
  WorkerPool,
  startTemporalPg,
  stopTemporalPg,
  useServer,
  workingPid,
} from './helpers/temporal-pg';

jest.setTimeout(120_000);

let pg: TemporalPg;
let sr: SkyrunEnv;
let connection: Connection;
let client: Client;
let workers: WorkerPool;

beforeAll(async () => {
  pg = await startTemporalPg();
  sr = await simEnv('multi');
  useServer(sr, pg);
  connection = await Connection.connect({ address: pg.address });
  client = new Client({ connection, namespace: pg.namespace });
  workers = new WorkerPool(sr);
  await Promise.all([workers.add(), workers.add(), workers.add()]);
}, 180_000);

afterAll(async () => {
  await workers?.stopAll();
  await connection?.close();
  await sr?.dispose();
  if (pg) await stopTemporalPg(pg.dir);
});

const file = (name: string) => path.join(sr.home, name);
const lines = (name: string) =>
  existsSync(file(name)) ? readFileSync(file(name), 'utf8').trim().split('\n').filter(Boolean) : [];
const ranks = (name: string) => lines(name).sort();
const allCreated = (cluster: string) => readSimInstances(sr.home).filter((i) => i.cluster === cluster);

/** Waits until the cluster's job 1 SUCCEEDED. */
async function jobDone(cluster: string): Promise<void> {
  await eventually(async () => /^1\s.*SUCCEEDED$/m.test((await sr.run(['queue', cluster])).stdout), 100_000);
}

async function launch(cluster: string, nodes: number, extra: string[] = []): Promise<void> {
  const r = await sr.run([
    ...['launch', '-y', '-d', '-c', cluster, '--infra', 'sim', '--cpus', '2+', '--num-nodes', String(nodes), ...extra],
    ...['--', `echo "$SKYPILOT_NODE_RANK" >> ${file(`${cluster}-runs`)}`],
  ]);
  expect(r.code).toBe(0);
}

async function down(cluster: string): Promise<void> {
  expect((await sr.run(['down', '-y', cluster])).code).toBe(0);
  expect(liveInstances(sr, cluster)).toEqual([]);
}

test('a worker SIGKILLed mid-provision: another finishes the provision, the job runs once per node', async () => {
  writeSimConfig(sr, { create_delay_ms: 6000 });
  await launch('mp', 2);
  await eventually(() => allCreated('mp').length === 2);
  const pid = await workingPid(client, 'cluster/mp', 'provision');
  await workers.kill(pid);
  await jobDone('mp');
  expect(ranks('mp-runs')).toEqual(['0', '1']);
  expect(allCreated('mp')).toHaveLength(2); // the retry found the instances the dead worker created
  expect(liveInstances(sr, 'mp')).toHaveLength(2);
  await down('mp');
  await workers.add();
});

test('a worker SIGKILLed mid-setup: the setup finishes under another, the job runs once per node', async () => {
  writeSimConfig(sr, {});
  const yaml = file('ms.yaml');
  writeFileSync(
    yaml,
    [
      'resources: {infra: sim, cpus: 2+}',
      'num_nodes: 2',
      `setup: echo "$SKYPILOT_NODE_RANK" >> ${file('ms-setups')}; sleep 4`,
      `run: echo "$SKYPILOT_NODE_RANK" >> ${file('ms-runs')}`,
      '',
    ].join('\n'),
  );
  expect((await sr.run(['launch', '-y', '-d', '-c', 'ms', yaml])).code).toBe(0);
  await eventually(() => lines('ms-setups').length === 2);
  await workers.kill(await workingPid(client, 'cluster/ms'));
  await jobDone('ms');
  expect(ranks('ms-setups')).toEqual(['0', '1']);
  expect(ranks('ms-runs')).toEqual(['0', '1']);
  expect(liveInstances(sr, 'ms')).toHaveLength(2);
  await down('ms');
  await workers.add();
});

test('a worker SIGKILLed mid-recovery of a preempted managed job: the job recovers and completes once', async () => {
  writeSimConfig(sr, { preempt_after_ms: 2500, max_preemptions: 1 });
  const script = `echo start >> ${file('mr-runs')}; sleep 4; echo end >> ${file('mr-runs')}`;
  const r = await sr.run(
    ['jobs', 'launch', '-y', '-d', '-n', 'mr', '--infra', 'sim', '--cpus', '2+', '--use-spot'].concat(['--', script]),
  );
  expect(r.code).toBe(0);
  const id = Number(/Managed job (\d+) \(/.exec(r.stderr)![1]);
  const cluster = managedClusterName(id, 'mr');
  await eventually(() => liveInstances(sr, cluster).length === 1);
  // the recovery's create is slow, so the kill lands while it provisions
  writeSimConfig(sr, { preempt_after_ms: 2500, max_preemptions: 1, create_delay_ms: 6000 });
  await eventually(() => allCreated(cluster).length === 2, 60_000);
  await workers.kill(await workingPid(client, `managed-job/${id}`, 'provision'));
  await eventually(async () => {
    const row = (await sr.run(['jobs', 'queue'])).stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
    return /\s1\s+SUCCEEDED$/.test(row);
  }, 100_000);
  expect(lines('mr-runs').filter((l) => l === 'end')).toEqual(['end']);
  expect(allCreated(cluster)).toHaveLength(2);
  expect(liveInstances(sr)).toEqual([]);
  await workers.add();
});

test('a rolling restart of every worker, one by one, while clusters launch loses nothing', async () => {
  writeSimConfig(sr, { create_delay_ms: 1500 });
  const names = ['roll-0', 'roll-1', 'roll-2', 'roll-3'];
  await Promise.all(names.map((n, i) => launch(n, 1 + (i % 2))));
  for (const w of workers.alive()) {
    expect(await workers.stop(w)).toBe(0);
    await workers.add();
  }
  for (const n of names) await jobDone(n);
  for (const [i, n] of names.entries()) expect(ranks(`${n}-runs`)).toEqual(i % 2 ? ['0', '1'] : ['0']);
  for (const n of names) await down(n);
  expect(liveInstances(sr)).toEqual([]);
});
