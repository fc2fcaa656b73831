/**
 * bench/chaos: the big chaos configuration, run by hand (test/chaos.test.ts runs a smaller one):
 * clusters launched on the sim with faults on while the background worker is SIGKILLed every few
 * seconds and restarted (test/helpers/chaos.ts). Prints clusters up and failed, kills, leaked
 * instances, problems found and the wall time; exits 1 when anything leaked or was wrong.
 * Run by hand: `npm run build && node dist/bench/chaos.js [clusters=50] [minKills=14]`.
 */
import { downAll, runChaos } from '../test/helpers/chaos';
import { simEnv } from '../test/helpers/sim';

async function main() {
  const clusters = Number(process.argv[2] ?? 50);
  const minKills = Number(process.argv[3] ?? 14);
  const sr = await simEnv('bench-chaos');
  try {
    const start = await sr.run(['server', 'start']);
    if (start.code !== 0) throw new Error(`server start failed: ${start.stderr}`);
    const client = await sr.temporalClient();
    const result = await runChaos(sr, client, { clusters, minKills, settleTimeoutMs: 900_000 });
    const up = [...result.settled.values()].filter((s) => s === 'up').length;
    const after = await downAll(sr, client, result);
    console.log(`bench/chaos: ${clusters} clusters on the sim, faults on, worker SIGKILLed every ~3 s`);
    console.log(`clusters up: ${up}, failed (no capacity left): ${clusters - up}`);
    console.log(`worker SIGKILLs: ${result.kills}`);
    console.log(`leaked instances: ${result.leaked} (after down: ${after.alive} alive)`);
    console.log(`wall time, first launch to every workflow settled: ${(result.wallMs / 1000).toFixed(1)} s`);
    const problems = [...result.problems, ...after.failedDowns, ...after.running.map((n) => `${n}: still RUNNING`)];
    for (const p of problems) console.log(`problem: ${p}`);
    if (problems.length || result.leaked || after.alive) process.exitCode = 1;
  } finally {
    await sr.dispose();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
