/**
 * bench/launch: wall time of `skyrun launch` and `skyrun exec` of `echo hi` with the dev server
 * and worker warm, beside a bare `bash -c 'echo hi'` and the CLI's own start-up.
 * Run by hand: `npm run build && node dist/bench/launch.js [runs]`. Prints figures; asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../test/helpers/skyrun';
import { stats } from './stats';

const CLI = path.join(__dirname, '..', 'client', 'cli.js');

function timeIt(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

async function main() {
  const runs = Number(process.argv[2] ?? 10);
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-bench-'));
  const env = {
    ...process.env,
    SKYRUN_HOME: home,
    SKYRUN_TEMPORAL_PORT: String(await freePort()),
    SKYRUN_UI_PORT: String(await freePort()),
  };
  const sky = (...a: string[]) => timeIt(process.execPath, [CLI, ...a], env);
  try {
    sky('server', 'start');
    sky('launch', '-y', '-c', 'warm', '--', 'echo hi'); // warms worker caches
    const rows: Array<[string, number[]]> = [];
    const bare: number[] = [];
    const version: number[] = [];
    const status: number[] = [];
    const launchNew: number[] = [];
    const launchExisting: number[] = [];
    const exec: number[] = [];
    for (let i = 0; i < runs; i++) {
      bare.push(timeIt('bash', ['-c', 'echo hi'], env));
      version.push(sky('--version'));
      status.push(sky('status'));
      launchNew.push(sky('launch', '-y', '-c', `bench-${i}`, '--', 'echo hi'));
      launchExisting.push(sky('launch', '-y', '-c', 'warm', '--', 'echo hi'));
      exec.push(sky('exec', 'warm', '--', 'echo hi'));
      sky('down', '-y', `bench-${i}`);
    }
    rows.push(
      ["bash -c 'echo hi'", bare],
      ['skyrun --version (CLI start-up)', version],
      ['skyrun status', status],
      ['skyrun launch (new cluster)', launchNew],
      ['skyrun launch (existing cluster)', launchExisting],
      ['skyrun exec', exec],
    );
    console.log(`bench/launch: ${runs} runs each, local infra, warm dev server and worker, ${os.cpus().length} cores`);
    for (const [name, xs] of rows) console.log(`${name.padEnd(34)} ${stats(xs)}`);
  } finally {
    spawnSync(process.execPath, [CLI, 'server', 'stop'], { env });
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
