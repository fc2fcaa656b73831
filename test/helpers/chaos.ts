/**
 * Chaos on the sim: clusters launched with faults on (capacity, zone limits, quota, throttling,
 * slow creates) while the background worker is SIGKILLed every few seconds and restarted; then
 * every workflow must settle, every cluster that came up must have exactly its nodes (its job
 * run once on each), and no other instance may be alive. Shared by test/chaos.test.ts (a size
 * that runs in about two minutes) and bench/chaos.ts (the big configuration, run by hand).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { processAlive } from '../../activities/infra/runners/local';
import { liveInstances, writeSimConfig } from './sim';
import { type SkyrunEnv, eventually, killAndWait, sleep } from './skyrun';

export interface ChaosOptions {
  clusters: number;
  /** keep killing until every launch is submitted and at least this many kills happened */
  minKills: number;
  /** the pause before each kill (default 3 s) */
  killEveryMs?: number;
  /** launches run this many at a time (default 5) */
  batch?: number;
  /** how long every workflow may take to settle once the kills stop (default 5 min) */
  settleTimeoutMs?: number;
}

export interface ChaosResult {
  names: string[];
  /** how each cluster ended: up with its job done, or failed (no capacity left) */
  settled: Map<string, 'up' | 'failed'>;
  kills: number;
  /** one line per thing found wrong after settling (a launch that failed, a node too many...) */
  problems: string[];
  /** live instances that no cluster that came up accounts for */
  leaked: number;
  /** from the first launch to every workflow settled */
  wallMs: number;
}

/** Every fifth cluster has two nodes. */
export function nodesOf(name: string): number {
  return Number(name.split('-')[1]) % 5 === 0 ? 2 : 1;
}

async function inBatches<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Launch `opts.clusters` detached clusters under kills, and wait for every workflow to settle. */
export async function runChaos(sr: SkyrunEnv, client: Client, opts: ChaosOptions): Promise<ChaosResult> {
  writeSimConfig(sr, {
    capacity_errors: ['us-east-2/use2-az1', 'eu-central-1'],
    zone_limits: { 'us-east-2/use2-az2': 6, 'us-east-1/use1-az2': 6 },
    quota_errors: ['us-west-2'],
    transient_error_rate: 0.15,
    create_delay_ms: 300,
  });
  const names = Array.from({ length: opts.clusters }, (_, i) => `chaos-${i}`);
  const runs = path.join(sr.home, 'runs');
  const problems: string[] = [];
  const started = Date.now();
  let launched = false;
  let kills = 0;
  // the chaos itself: a kill every few seconds (pacing, not a wait for some state)
  const killer = (async () => {
    while (!launched || kills < opts.minKills) {
      await sleep(opts.killEveryMs ?? 3000);
      const pid = sr.workerPid();
      if (pid && processAlive(pid)) {
        await killAndWait(pid);
        kills++;
      }
      await sr.run(['server', 'start']); // brings a new worker up
    }
  })();
  try {
    await inBatches(names, opts.batch ?? 5, async (name) => {
      const i = Number(name.split('-')[1]);
      const gpu = i % 2 === 0 ? ['--gpus', 'A100:8'] : ['--cpus', '2+'];
      const r = await sr.run([
        ...['launch', '-y', '-d', '-c', name, '--infra', 'sim', ...gpu, '--num-nodes', String(nodesOf(name))],
        ...['--', `echo "$SKYPILOT_NODE_RANK" >> ${runs}-${name}`],
      ]);
      if (r.code !== 0) problems.push(`${name}: launch exited ${r.code}: ${r.stderr.trim()}`);
    });
  } finally {
    launched = true;
    await killer;
  }
  await sr.run(['server', 'start']);

  const settled = await settle(sr, client, names, opts.settleTimeoutMs ?? 300_000);
  const wallMs = Date.now() - started;
  let leaked = 0;
  for (const name of names) {
    const live = liveInstances(sr, name);
    const ranFile = `${runs}-${name}`;
    if (settled.get(name) === 'up') {
      if (live.length !== nodesOf(name)) problems.push(`${name}: ${live.length} live nodes, wants ${nodesOf(name)}`);
      leaked += Math.max(0, live.length - nodesOf(name));
      if (new Set(live.map((x) => x.zone)).size > 1) problems.push(`${name}: nodes in several zones`);
      const ranks = existsSync(ranFile) ? readFileSync(ranFile, 'utf8').trim().split('\n').sort() : [];
      const want = Array.from({ length: nodesOf(name) }, (_, r) => String(r));
      if (ranks.join() !== want.join()) problems.push(`${name}: the job ran on ranks [${ranks}], wants [${want}]`);
    } else {
      if (live.length) problems.push(`${name}: failed, but ${live.length} instances are alive`);
      leaked += live.length;
      if (existsSync(ranFile)) problems.push(`${name}: failed, but its job ran`);
    }
  }
  const strays = liveInstances(sr).filter((x) => !names.includes(x.cluster));
  for (const x of strays) problems.push(`instance ${x.id} of unknown cluster ${x.cluster} is alive`);
  leaked += strays.length;
  return { names, settled, kills, problems, leaked, wallMs };
}

/** Wait until each workflow is FAILED, or RUNNING with its job 1 SUCCEEDED. */
async function settle(
  sr: SkyrunEnv,
  client: Client,
  names: string[],
  timeoutMs: number,
): Promise<Map<string, 'up' | 'failed'>> {
  const settled = new Map<string, 'up' | 'failed'>();
  await eventually(async () => {
    for (const name of names) {
      if (settled.has(name)) continue;
      const d = await client.workflow.getHandle(`cluster/${name}`).describe();
      if (d.status.name === 'FAILED') settled.set(name, 'failed');
      else if (d.status.name === 'RUNNING') {
        const q = await sr.run(['queue', name]);
        if (/^1\s.*SUCCEEDED$/m.test(q.stdout)) settled.set(name, 'up');
      }
    }
    return settled.size === names.length;
  }, timeoutMs);
  return settled;
}

/** Take down every cluster that came up; what is left alive, and which workflows still run. */
export async function downAll(
  sr: SkyrunEnv,
  client: Client,
  result: ChaosResult,
): Promise<{ failedDowns: string[]; alive: number; running: string[] }> {
  const up = result.names.filter((n) => result.settled.get(n) === 'up');
  const failedDowns: string[] = [];
  await inBatches(up, 5, async (name) => {
    const r = await sr.run(['down', '-y', name]);
    if (r.code !== 0) failedDowns.push(`${name}: down exited ${r.code}: ${r.stderr.trim()}`);
  });
  const running: string[] = [];
  for (const name of result.names) {
    const d = await client.workflow.getHandle(`cluster/${name}`).describe();
    if (d.status.name === 'RUNNING') running.push(name);
  }
  return { failedDowns, alive: liveInstances(sr).length, running };
}
