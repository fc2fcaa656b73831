/**
 * Chaos: 20 clusters launched on the sim with faults on (capacity, zone limits, throttling,
 * slow creates) while the worker is SIGKILLed every few seconds and restarted. Afterwards every
 * workflow settles, every cluster that came up has exactly its nodes (and its job ran once), and
 * no other instance is alive (test/helpers/chaos.ts). The size keeps a warm run near two
 * minutes; bench/chaos.ts runs the big configuration (50 clusters) by hand and prints figures.
 */
import type { Client } from '@temporalio/client';
import { downAll, runChaos } from './helpers/chaos';
import { simEnv } from './helpers/sim';
import { SkyrunEnv } from './helpers/skyrun';

const CLUSTERS = 20;
let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await simEnv('chaos');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

test(`${CLUSTERS} launches with faults while the worker is killed every few seconds: every launch settles, nothing leaks`, async () => {
  const result = await runChaos(sr, client, { clusters: CLUSTERS, minKills: 5 });
  const up = [...result.settled.values()].filter((s) => s === 'up').length;
  console.log(
    `chaos: ${up} clusters up, ${CLUSTERS - up} failed (no capacity left), ${result.kills} worker SIGKILLs, ` +
      `${Math.round(result.wallMs / 1000)} s`,
  );
  expect(result.settled.size).toBe(CLUSTERS);
  expect(result.kills).toBeGreaterThanOrEqual(5);
  expect(result.problems).toEqual([]);
  expect(result.leaked).toBe(0);
  // the faults leave room for most clusters: a run where most fail tests nothing
  expect(up).toBeGreaterThan(CLUSTERS / 2);

  const after = await downAll(sr, client, result);
  expect(after).toEqual({ failedDowns: [], alive: 0, running: [] });
}, 600_000);
