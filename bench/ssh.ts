/**
 * SSH runner figures against real sshd processes on loopback (run by hand):
 *   npx tsc -p tsconfig.json && node dist/bench/ssh.js
 * - latency of a short exec (`true`) on a warm pooled connection, beside the OpenSSH client
 *   (`ssh ... true`, a new connection each time, as a shell-out runner would pay);
 * - syncWorkdir of a 50 MB workdir (200 files of 256 KB) to 3 hosts in parallel, first and
 *   second (no change) sync.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SshRunner, closeAllSsh } from '../activities/infra/runners/ssh';
import { stringify } from 'yaml';
import { SkyrunEnv } from '../test/helpers/skyrun';
import { makeClientKey, startSshd } from '../test/helpers/sshd';
import { stats } from './stats';

const RUNS = 20;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function main(): Promise<void> {
  const key = makeClientKey();
  const hosts = await Promise.all([0, 1, 2].map(() => startSshd({ clientKey: key })));
  const work = mkdtempSync(path.join(os.tmpdir(), 'skyrun-bench-ssh-'));
  try {
    const runners = hosts.map(
      (h) => new SshRunner({ kind: 'ssh', host: h.host, port: h.port, user: h.user, identityFile: key }),
    );
    const r = runners[0]!;
    const h = hosts[0]!;

    console.log(`exec \`true\` on ${h.host}:${h.port}, ${RUNS} runs`);
    const cold = await time(() => r.exec(['true']));
    console.log(`  ssh2 first call (connect + auth + exec): ${cold.toFixed(1)} ms`);
    const warm: number[] = [];
    for (let i = 0; i < RUNS; i++) warm.push(await time(() => r.exec(['true'])));
    console.log(`  ssh2 warm pooled connection:   ${stats(warm)}`);
    const state: number[] = [];
    for (let i = 0; i < RUNS; i++) state.push(await time(() => r.phaseState(1, 'run')));
    console.log(`  ssh2 phaseState (warm):        ${stats(state)}`);
    const cli: number[] = [];
    const args = [
      '-i',
      key,
      '-p',
      String(h.port),
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'LogLevel=ERROR',
      `root@${h.host}`,
      'true',
    ];
    for (let i = 0; i < RUNS; i++) cli.push(await time(() => execFileSync('ssh', args)));
    console.log(`  OpenSSH client \`ssh ... true\`: ${stats(cli)}`);

    const src = path.join(work, 'wd');
    for (let i = 0; i < 200; i++) {
      const dir = path.join(src, `d${i % 10}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `f${i}.bin`), randomBytes(256 * 1024));
    }
    console.log(`syncWorkdir: 200 files x 256 KB = 50 MB to ${hosts.length} hosts in parallel`);
    const first = await time(() => Promise.all(runners.map((x) => x.syncWorkdir(src))));
    console.log(
      `  first sync:            ${first.toFixed(0)} ms (${((50 * hosts.length) / (first / 1000)).toFixed(0)} MB/s total)`,
    );
    const second = await time(() => Promise.all(runners.map((x) => x.syncWorkdir(src))));
    console.log(`  second sync, no change: ${second.toFixed(0)} ms`);

    // the whole path: `skyrun exec` on a warm 1-node ssh cluster (CLI, update, workflow, runner)
    const sr = await SkyrunEnv.create('bench-ssh');
    try {
      writeFileSync(
        path.join(sr.home, 'ssh_node_pools.yaml'),
        stringify({ bench: { user: 'root', identity_file: key, hosts: [{ ip: h.host, port: h.port }] } }),
      );
      const ok = async (args: string[]) => {
        const res = await sr.run(args);
        if (res.code !== 0) throw new Error(`skyrun ${args.join(' ')}: ${res.stderr}`);
      };
      await ok(['server', 'start']);
      await ok(['launch', '-y', '-c', 'warm', '--infra', 'ssh/bench', '--', 'true']);
      await ok(['exec', 'warm', '--', 'true']);
      const execs: number[] = [];
      for (let i = 0; i < 10; i++) execs.push(await time(() => ok(['exec', 'warm', '--', 'true'])));
      console.log(`skyrun exec on a warm ssh cluster: ${stats(execs)} (beside OpenSSH above)`);
      await ok(['down', '-y', 'warm']);
    } finally {
      await sr.dispose();
    }
  } finally {
    await closeAllSsh();
    await Promise.all(hosts.map((h) => h.stop()));
    rmSync(work, { recursive: true, force: true });
    rmSync(path.dirname(key), { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
