/**
 * bench/recovery: (1) time from a spot preemption to the managed job running again, on the sim
 * with instant provisioning, as a median; (2) how many managed jobs one worker watches at once,
 * with its memory and CPU, for 100 and 1000 concurrent sleeping jobs on the sim.
 * The sim takes its offers from the SkyPilot-schema catalog folder SKYRUN_CATALOG_DIR names, else
 * the repository's test/fixtures/catalog/small.
 * Run by hand: `npm run build && node dist/bench/recovery.js [recoveries=5] [counts=100,1000]`.
 */
import { readFileSync, writeFileSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSimInstances } from '../activities/infra/clouds/sim';
import { FIXTURES } from '../test/helpers/sim';
import { freePort } from '../test/helpers/skyrun';
import { stats } from './stats';

const CLI = path.join(__dirname, '..', 'client', 'cli.js');
const CATALOG = process.env.SKYRUN_CATALOG_DIR || FIXTURES;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function setup(name: string) {
  const home = mkdtempSync(path.join(os.tmpdir(), `skyrun-bench-${name}-`));
  const env = {
    ...process.env,
    SKYRUN_HOME: home,
    SKYRUN_TEMPORAL_PORT: String(await freePort()),
    SKYRUN_UI_PORT: String(await freePort()),
    SKYRUN_CATALOG_DIR: CATALOG,
  };
  const sky = (...a: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...a], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`skyrun ${a.join(' ')}: ${r.stderr}`);
    return r.stdout + r.stderr;
  };
  sky('server', 'start');
  return {
    home,
    env,
    sky,
    done: () => {
      spawnSync(process.execPath, [CLI, 'server', 'stop'], { env });
      rmSync(home, { recursive: true, force: true });
    },
  };
}

async function recoveryTimes(runs: number): Promise<number[]> {
  const b = await setup('recovery');
  const out: number[] = [];
  try {
    writeFileSync(path.join(b.home, 'sim.yaml'), 'catalog_cloud: aws\npreempt_after_ms: 3000\nmax_preemptions: 1\n');
    for (let i = 0; i < runs; i++) {
      const starts = path.join(b.home, `starts-${i}`);
      const log = b.sky(
        'jobs',
        'launch',
        '-y',
        '-n',
        `r${i}`,
        '--infra',
        'sim',
        '--gpus',
        'A100:8',
        '--use-spot',
        '--',
        `date +%s%3N >> ${starts}; sleep 6`,
      );
      const id = Number(/Managed job (\d+) \(/.exec(log)![1]);
      const preempted = readSimInstances(b.home).find((x) => x.cluster === `r${i}-${id}` && x.reason === 'preempted');
      const second = Number(readFileSync(starts, 'utf8').trim().split('\n')[1]);
      out.push(second - preempted!.preemptAt!);
    }
  } finally {
    b.done();
  }
  return out;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function watchMany(count: number): Promise<string> {
  const b = await setup(`watch${count}`);
  try {
    writeFileSync(path.join(b.home, 'sim.yaml'), 'catalog_cloud: aws\n');
    const yaml = path.join(b.home, 'sleeper.yaml');
    writeFileSync(yaml, 'name: sleeper\nresources: {infra: sim, cpus: 2+}\nrun: sleep 100000\n');
    const t0 = Date.now();
    // submit through the typed client in this process (a CLI process per job would dominate)
    Object.assign(process.env, b.env);
    const { SkyrunClient } = await import('../client/client');
    const { parseTask } = await import('../core/task');
    const task = parseTask(readFileSync(yaml, 'utf8'), yaml);
    const client = await SkyrunClient.connect();
    try {
      // one after another: ids are allocated from the count of jobs that exist
      for (let i = 0; i < count; i++) await client.launchManaged(task);
    } finally {
      await client.close();
    }
    const submitted = Date.now();
    const running = () => (b.sky('jobs', 'queue').match(/ RUNNING$/gm) ?? []).length;
    while (running() < count) await sleep(2000);
    const allRunning = Date.now();
    const pid = (JSON.parse(readFileSync(path.join(b.home, 'worker.json'), 'utf8')) as { pid: number }).pid;
    const ticks0 = cpuTicks(pid);
    const w0 = Date.now();
    await sleep(30_000);
    const cpu = ((cpuTicks(pid) - ticks0) / 100 / ((Date.now() - w0) / 1000)) * 100;
    const rss = rssMiB(pid);
    const live = readSimInstances(b.home).filter((x) => x.state === 'running').length;
    const line =
      `${count} jobs: submitted in ${((submitted - t0) / 1000).toFixed(0)} s, all RUNNING after ${((allRunning - t0) / 1000).toFixed(0)} s; ` +
      `steady state: worker RSS ${rss.toFixed(0)} MiB, worker CPU ${cpu.toFixed(0)}% of one core; ${live} sim instances`;
    b.sky('jobs', 'cancel', '-a', '-y');
    return line;
  } finally {
    b.done();
  }
}

async function main() {
  const runs = Number(process.argv[2] ?? 5);
  const counts = (process.argv[3] ?? '100,1000').split(',').map(Number);
  if (runs > 0) {
    const t = await recoveryTimes(runs);
    console.log(`preemption -> job running again (sim, instant provisioning): ${stats(t)}`);
  }
  for (const c of counts) console.log(await watchMany(c));
  if (existsSync('/proc/self/status')) console.log(`(${os.cpus().length} cores; the sim's nodes are local processes)`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
