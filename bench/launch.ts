/**
 * bench/launch: wall time of `skyrun launch` and `skyrun exec` of `echo hi` with the dev server
 * and worker warm, beside a bare `bash -c 'echo hi'` and the CLI's own start-up; then the SSH
 * case: `skyrun exec` on a warm 1-node SSH pool cluster (a real sshd on loopback) beside plain
 * `ssh -i key -p port root@host echo hi` to the same host.
 * Run by hand: `npm run build && node dist/bench/launch.js [runs] [--ssh-only]`. Prints figures;
 * asserts nothing.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../test/helpers/skyrun';
import { makeClientKey, startSshd } from '../test/helpers/sshd';
import { median, stats } from './stats';

const CLI = path.join(__dirname, '..', 'client', 'cli.js');

function timeIt(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

type Sky = (...a: string[]) => number;

/** The local infra's rows: CLI start-up, status, launch (new and existing cluster), exec. */
function localRows(sky: Sky, env: NodeJS.ProcessEnv, runs: number): Array<[string, number[]]> {
  sky('launch', '-y', '-c', 'warm', '--', 'echo hi'); // warms worker caches
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
  return [
    ["bash -c 'echo hi'", bare],
    ['skyrun --version (CLI start-up)', version],
    ['skyrun status', status],
    ['skyrun launch (new cluster)', launchNew],
    ['skyrun launch (existing cluster)', launchExisting],
    ['skyrun exec', exec],
  ];
}

/** The SSH rows: plain OpenSSH beside `skyrun exec` on a warm 1-node SSH pool cluster, same host, interleaved. */
async function sshRows(sky: Sky, env: NodeJS.ProcessEnv, home: string, runs: number) {
  const key = makeClientKey();
  const h = await startSshd({ clientKey: key });
  try {
    writeFileSync(
      path.join(home, 'ssh_node_pools.yaml'),
      stringify({ bench: { user: 'root', identity_file: key, hosts: [{ ip: h.host, port: h.port }] } }),
    );
    const opts = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR'];
    const ssh = ['-i', key, '-p', String(h.port), ...opts, `root@${h.host}`, 'echo hi'];
    sky('launch', '-y', '-c', 'sshwarm', '--infra', 'ssh/bench', '--', 'echo hi');
    sky('exec', 'sshwarm', '--', 'echo hi'); // warms the worker's pooled connection
    const plain: number[] = [];
    const exec: number[] = [];
    for (let i = 0; i < runs; i++) {
      plain.push(timeIt('ssh', ssh, env));
      exec.push(sky('exec', 'sshwarm', '--', 'echo hi'));
    }
    sky('down', '-y', 'sshwarm');
    const rows: Array<[string, number[]]> = [
      ['ssh -i key -p port root@host echo hi', plain],
      ['skyrun exec (warm ssh cluster)', exec],
    ];
    return rows;
  } finally {
    await h.stop();
    rmSync(path.dirname(key), { recursive: true, force: true });
  }
}

async function main() {
  const runs = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 10);
  const sshOnly = process.argv.includes('--ssh-only');
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-bench-'));
  const env = {
    ...process.env,
    SKYRUN_HOME: home,
    SKYRUN_TEMPORAL_PORT: String(await freePort()),
    SKYRUN_UI_PORT: String(await freePort()),
  };
  const sky: Sky = (...a) => timeIt(process.execPath, [CLI, ...a], env);
  try {
    sky('server', 'start');
    if (!sshOnly) {
      const rows = localRows(sky, env, runs);
      console.log(
        `bench/launch: ${runs} runs each, local infra, warm dev server and worker, ${os.cpus().length} cores`,
      );
      for (const [name, xs] of rows) console.log(`${name.padEnd(38)} ${stats(xs)}`);
    }
    const rows = await sshRows(sky, env, home, runs);
    console.log(
      `bench/launch: ${runs} runs each, ssh infra (sshd on loopback), warm dev server, worker and connection`,
    );
    for (const [name, xs] of rows) console.log(`${name.padEnd(38)} ${stats(xs)}`);
    console.log(`skyrun exec minus plain ssh (medians): ${(median(rows[1]![1]) - median(rows[0]![1])).toFixed(0)} ms`);
  } finally {
    spawnSync(process.execPath, [CLI, 'server', 'stop'], { env });
    rmSync(home, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
