/**
 * bench/multi-worker: the real Temporal server on PostgreSQL (scripts/temporal-pg.ts), N
 * `skyrun worker` processes on SkyRun's task queue, and C two-node clusters launched detached on
 * the sim (a 500 ms create), five at a time; every job must run once per node. Prints the server's
 * start-up steps, the wall time from the first launch to every job done, and clusters per second.
 * Run by hand: `npm run build && node dist/bench/multi-worker.js [workers=3] [clusters=20]`.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { liveInstances, simEnv, writeSimConfig } from '../test/helpers/sim';
import { eventually } from '../test/helpers/skyrun';
import { WorkerPool, startTemporalPg, stopTemporalPg, useServer } from '../test/helpers/temporal-pg';

async function main() {
  const n = Number(process.argv[2] ?? 3);
  const clusters = Number(process.argv[3] ?? 20);
  const pg = await startTemporalPg();
  console.log(`temporal-pg start (ms): ${JSON.stringify(pg.timings)}`);
  const sr = await simEnv('bench-multi');
  useServer(sr, pg);
  const workers = new WorkerPool(sr);
  try {
    const w0 = Date.now();
    await Promise.all(Array.from({ length: n }, () => workers.add()));
    console.log(`${n} workers polling after ${Date.now() - w0} ms`);
    writeSimConfig(sr, { create_delay_ms: 500 });
    const names = Array.from({ length: clusters }, (_, i) => `mw-${i}`);
    const marker = (name: string) => path.join(sr.home, `${name}-runs`);
    const t0 = Date.now();
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(
        names.slice(i, i + 5).map(async (name) => {
          const r = await sr.run([
            ...['launch', '-y', '-d', '-c', name, '--infra', 'sim', '--cpus', '2+', '--num-nodes', '2'],
            ...['--', `echo "$SKYPILOT_NODE_RANK" >> ${marker(name)}`],
          ]);
          if (r.code !== 0) throw new Error(`${name}: launch exited ${r.code}: ${r.stderr}`);
        }),
      );
    }
    const submitted = Date.now() - t0;
    const ran = (name: string) =>
      existsSync(marker(name)) ? readFileSync(marker(name), 'utf8').trim().split('\n') : [];
    await eventually(() => names.every((name) => ran(name).length >= 2), 600_000);
    const wall = Date.now() - t0;
    const wrong = names.filter((name) => ran(name).sort().join() !== '0,1');
    console.log(`${clusters} two-node clusters: submitted in ${submitted} ms, every job done after ${wall} ms`);
    console.log(`throughput: ${((clusters * 1000) / wall).toFixed(2)} clusters/s with ${n} workers`);
    console.log(`jobs not run exactly once per node: ${wrong.length ? wrong.join(', ') : 'none'}`);
    for (let i = 0; i < names.length; i += 5) {
      await Promise.all(names.slice(i, i + 5).map((name) => sr.run(['down', '-y', name])));
    }
    console.log(`live sim instances after down: ${liveInstances(sr).length}`);
    if (wrong.length || liveInstances(sr).length) process.exitCode = 1;
  } finally {
    await workers.stopAll();
    await sr.dispose();
    await stopTemporalPg(pg.dir);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
