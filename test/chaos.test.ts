/**
 * Chaos: 50 clusters launched on the sim with faults on (capacity, zone limits, throttling,
 * slow creates) while the worker is SIGKILLed every few seconds and restarted. Afterwards every
 * workflow ends, every cluster that came up has exactly its nodes (and its job ran once), and
 * no other instance is alive.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { SkyrunEnv, eventually, sleep } from './helpers/skyrun';
import { liveInstances, simEnv, writeSimConfig } from './helpers/sim';

const CLUSTERS = 50;
let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await simEnv('chaos');
  writeSimConfig(sr, {
    capacity_errors: ['us-east-2/use2-az1', 'eu-central-1'],
    zone_limits: { 'us-east-2/use2-az2': 6, 'us-east-1/use1-az2': 6 },
    quota_errors: ['us-west-2'],
    transient_error_rate: 0.15,
    create_delay_ms: 300,
  });
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

test(`${CLUSTERS} launches with faults while the worker is killed every few seconds: nothing leaks`, async () => {
  const names = Array.from({ length: CLUSTERS }, (_, i) => `chaos-${i}`);
  const nodesOf = (i: number) => (i % 5 === 0 ? 2 : 1);
  const runs = path.join(sr.home, 'runs');
  let killing = true;
  let kills = 0;
  const killer = (async () => {
    while (killing) {
      await sleep(3000);
      const pid = sr.workerPid();
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
          kills++;
        } catch {
          /* already gone */
        }
      }
      await sleep(300);
      await sr.run(['server', 'start']); // brings a new worker up
    }
  })();

  await inBatches(names, 5, async (name) => {
    const i = Number(name.split('-')[1]);
    const gpu = i % 2 === 0 ? ['--gpus', 'A100:8'] : ['--cpus', '2+'];
    const r = await sr.run([
      'launch',
      '-y',
      '-d',
      '-c',
      name,
      '--infra',
      'sim',
      ...gpu,
      '--num-nodes',
      String(nodesOf(i)),
      '--',
      `echo "$SKYPILOT_NODE_RANK" >> ${runs}-${name}`,
    ]);
    expect(r.code).toBe(0);
  });
  await sleep(10_000);
  killing = false;
  await killer;
  expect(kills).toBeGreaterThanOrEqual(3);
  await sr.run(['server', 'start']);

  // every workflow settles: UP with its job finished, or failed with nothing left
  const settled = new Map<string, 'up' | 'failed'>();
  await eventually(async () => {
    for (const name of names) {
      if (settled.has(name)) continue;
      const h = client.workflow.getHandle(`cluster/${name}`);
      const d = await h.describe();
      if (d.status.name === 'FAILED') settled.set(name, 'failed');
      else if (d.status.name === 'RUNNING') {
        const q = await sr.run(['queue', name]);
        if (/^1\s.*SUCCEEDED$/m.test(q.stdout)) settled.set(name, 'up');
      }
    }
    return settled.size === names.length;
  }, 300_000);

  const up = names.filter((n) => settled.get(n) === 'up');
  console.log(
    `chaos: ${up.length} clusters up, ${CLUSTERS - up.length} failed (no capacity left), ${kills} worker SIGKILLs`,
  );
  expect(up.length).toBeGreaterThan(CLUSTERS / 2);
  for (const name of names) {
    const i = Number(name.split('-')[1]);
    const live = liveInstances(sr, name);
    if (settled.get(name) === 'up') {
      expect(live).toHaveLength(nodesOf(i));
      expect(new Set(live.map((x) => x.zone)).size).toBe(1);
      // the job ran exactly once on each rank
      const ranks = readFileSync(`${runs}-${name}`, 'utf8').trim().split('\n').sort();
      expect(ranks).toEqual(Array.from({ length: nodesOf(i) }, (_, r) => String(r)));
    } else {
      expect(live).toEqual([]);
      expect(existsSync(`${runs}-${name}`)).toBe(false);
    }
  }
  const owners = new Set(liveInstances(sr).map((x) => x.cluster));
  expect([...owners].every((c) => settled.get(c) === 'up')).toBe(true);

  await inBatches(up, 5, async (name) => {
    expect((await sr.run(['down', '-y', name])).code).toBe(0);
  });
  expect(liveInstances(sr)).toEqual([]);
  for (const name of names) {
    expect((await client.workflow.getHandle(`cluster/${name}`).describe()).status.name).not.toBe('RUNNING');
  }
}, 600_000);
