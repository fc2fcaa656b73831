/**
 * Issue 15, item 5: the CLI's defects, each reproduced first. The real CLI against a real
 * Temporal dev server and worker (local and sim infra); the ssh config and the display's
 * figures are checked in-process with real files and real `ssh -G`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Command } from 'commander';
import type { ClusterInfo } from '../core/cluster';
import { buildProgram } from '../client/cli';
import { managedQueueTable } from '../client/display';
import { writeSshConfig } from '../client/ssh-config';
import { CLI, REPO, SkyrunEnv, eventually, freePort } from './helpers/skyrun';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await SkyrunEnv.create('defects');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  const up = await sr.run(['launch', '-y', '-c', 'c', '--', 'true']);
  expect(up.code).toBe(0);
});

afterAll(async () => {
  await sr?.run(['jobs', 'cancel', '-y', '-a']);
  await sr?.run(['down', '-y', 'c']);
  await sr?.dispose();
});

const NO_TTY = /Not confirmed: stdin is not a terminal.*pass -y/;

async function queueRow(id: number): Promise<string> {
  const q = await sr.run(['queue', 'c']);
  return q.stdout.split('\n').find((l) => l.startsWith(`${id} `)) ?? '';
}

/** `skyrun ARGS` on a pseudo-terminal (script(1)), typing `input`; its exit code printed as rc=N. */
function onTerminal(args: string, input: string): { stdout: string } {
  const cmd = `${process.execPath} ${CLI} ${args}; echo rc=$?`;
  return spawnSync('script', ['-qec', cmd, '/dev/null'], { input, env: sr.env, cwd: REPO, encoding: 'utf8' });
}

async function detached(cmd: string): Promise<number> {
  const r = await sr.run(['exec', 'c', '-d', '--', cmd]);
  expect(r.code).toBe(0);
  const id = Number(/Submitted job (\d+)/.exec(r.stderr)![1]);
  await eventually(async () => (await queueRow(id)).endsWith('RUNNING'));
  return id;
}

test('cancel asks for confirmation: without a terminal and -y it refuses (exit 1), -y cancels; CANCELLED has no exit 143', async () => {
  const id = await detached('sleep 60');
  const refused = await sr.run(['cancel', 'c', String(id)]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(NO_TTY);
  expect(await queueRow(id)).toMatch(/RUNNING$/);
  // on a terminal (script(1) gives it one) it asks: 'n' aborts, nothing cancelled
  const asked = onTerminal(`cancel c ${id}`, 'n\n');
  expect(asked.stdout).toContain(`Cancelling job ${id} on 'c'. Proceed? [Y/n]`);
  expect(asked.stdout).toContain('Aborted.');
  expect(asked.stdout).toContain('rc=1');
  expect(await queueRow(id)).toMatch(/RUNNING$/);
  const ok = await sr.run(['cancel', '-y', 'c', String(id)]);
  expect(ok.stderr).toContain(`Job ${id}: CANCELLED`);
  expect(ok.code).toBe(0);
  expect(await queueRow(id)).toMatch(/\sCANCELLED$/);
});

test('exec of a failing command: ✗ and its exit code, never a check mark', async () => {
  const r = await sr.run(['exec', 'c', '--', 'exit 3']);
  expect(r.code).toBe(100);
  expect(r.stderr).toMatch(/✗ Job \d+ finished: FAILED \(exit 3\)/);
  expect(r.stderr).not.toContain('✓ Job');
});

test('status of a cluster that does not exist: exit 1 and says so', async () => {
  const r = await sr.run(['status', 'nope']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("Cluster 'nope' does not exist.");
  expect(r.stdout).not.toContain('No existing clusters.');
  const both = await sr.run(['status', 'c', 'nope']);
  expect(both.code).toBe(1);
  expect(both.stdout).toMatch(/^c\s+local\s/m);
});

test('every "not found" is consistent: a job (a cluster\'s or managed) is 102, a cluster 1', async () => {
  for (const args of [
    ['jobs', 'cancel', '99'],
    ['jobs', 'cancel', '-y', '99'],
    ['jobs', 'logs', '99'],
  ]) {
    const r = await sr.run(args);
    expect([args.join(' '), r.code]).toEqual([args.join(' '), 102]);
    expect(r.stderr).toContain('Managed job 99 not found.');
    expect(r.stderr).not.toContain('workflow not found');
  }
  expect((await sr.run(['logs', 'c', '99'])).code).toBe(102);
  expect((await sr.run(['cancel', '-y', 'c', '99'])).code).toBe(102);
  for (const args of [
    ['queue', 'nope'],
    ['logs', 'nope'],
    ['cancel', '-y', 'nope'],
  ]) {
    const r = await sr.run(args);
    expect([args.join(' '), r.code]).toEqual([args.join(' '), 1]);
    expect(r.stderr).toContain("Cluster 'nope' does not exist.");
  }
});

test('an unreachable TEMPORAL_ADDRESS fails naming the address and what to try', async () => {
  const address = `127.0.0.1:${await freePort()}`;
  const r = await sr.run(['status'], { env: { TEMPORAL_ADDRESS: address } });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`Cannot reach the Temporal server at ${address}`);
  expect(r.stderr).toContain('skyrun server start');
  expect(r.stderr).toContain('unset TEMPORAL_ADDRESS');
});

test('show-gpus --infra CLOUD/REGION lists that region only', async () => {
  const t4 = await sr.run(['show-gpus', 'T4', '--infra', 'aws/eu-central-1']);
  expect(t4.code).toBe(0);
  const rows = t4.stdout.split('\n').filter((l) => l.startsWith('T4 '));
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) expect(row).toMatch(/\seu-central-1$/);
  const none = await sr.run(['show-gpus', 'H100', '--infra', 'aws/eu-west-1']);
  expect(none.code).toBe(1);
  expect(none.stderr).toContain('offers no H100 on aws/eu-west-1');
  expect(none.stdout).toBe('');
  const nowhere = await sr.run(['show-gpus', '--infra', 'aws/eu-west-1']);
  expect(nowhere.code).toBe(1);
  expect(nowhere.stderr).toContain('offers no accelerators on aws/eu-west-1');
});

test('stop asks for confirmation; ssh to a STOPPED cluster is refused and says skyrun start', async () => {
  await sr.run(['launch', '-y', '-c', 'st', '--', 'true']);
  const refused = await sr.run(['stop', 'st']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(NO_TTY);
  expect((await sr.run(['status', 'st'])).stdout).toMatch(/^st\s.*\sUP\s/m);
  expect((await sr.run(['stop', '-y', 'st'])).code).toBe(0);
  const ssh = await sr.run(['ssh', 'st', '--', 'echo', 'should-not-run']);
  expect(ssh.code).toBe(1);
  expect(ssh.stderr).toContain("Cluster 'st' is STOPPED; start it first: skyrun start st");
  expect(ssh.stdout).not.toContain('should-not-run');
  expect((await sr.run(['down', '-y', 'st'])).code).toBe(0);
});

test('launch and status with local clusters only leave the user ssh config alone', async () => {
  expect((await sr.run(['status'])).code).toBe(0);
  expect(existsSync(sr.env.SKYRUN_USER_SSH_CONFIG!)).toBe(false);
});

describe('the user ssh config: one Include however many SKYRUN_HOMEs, only for SSH-reached clusters', () => {
  const saved = { home: process.env.SKYRUN_HOME, user: process.env.SKYRUN_USER_SSH_CONFIG };
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'skyrun-sshcfg-'));
  afterAll(() => {
    process.env.SKYRUN_HOME = saved.home;
    process.env.SKYRUN_USER_SSH_CONFIG = saved.user;
    if (saved.home === undefined) delete process.env.SKYRUN_HOME;
    if (saved.user === undefined) delete process.env.SKYRUN_USER_SSH_CONFIG;
    rmSync(tmp, { recursive: true, force: true });
  });
  const sshCluster = (name: string, port: number): ClusterInfo =>
    ({
      name,
      handle: {
        nodes: [
          {
            rank: 0,
            instanceId: 'i-1',
            ip: '127.0.0.1',
            runner: { kind: 'ssh', host: '127.0.0.1', port, user: 'u', identityFile: '/k' },
          },
        ],
      },
    }) as unknown as ClusterInfo;
  const localCluster = { name: 'l', handle: { nodes: [{ rank: 0, runner: { kind: 'local', root: '/x' } }] } };

  test('two homes, one Include line; ssh resolves both; none left when the SSH clusters go', () => {
    const user = path.join(tmp, 'dot-ssh', 'config');
    process.env.SKYRUN_USER_SSH_CONFIG = user;
    process.env.SKYRUN_HOME = path.join(tmp, 'home-a');
    writeSshConfig([localCluster as unknown as ClusterInfo]);
    expect(existsSync(user)).toBe(false);
    writeSshConfig([sshCluster('alpha', 2201)]);
    process.env.SKYRUN_HOME = path.join(tmp, 'home-b');
    writeSshConfig([sshCluster('beta', 2202)]);
    writeSshConfig([sshCluster('beta', 2202)]);
    const includes = readFileSync(user, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Include'));
    expect(includes).toEqual([`Include ${path.join(tmp, 'dot-ssh', 'skyrun-homes')}/*`]);
    const port = (alias: string) =>
      /^port (\d+)$/m.exec(spawnSync('ssh', ['-G', '-F', user, alias], { encoding: 'utf8' }).stdout)?.[1];
    expect([port('alpha'), port('beta')]).toEqual(['2201', '2202']);
    writeSshConfig([]);
    expect(readdirSync(path.join(tmp, 'dot-ssh', 'skyrun-homes'))).toHaveLength(1);
    expect(port('beta')).toBe('22');
  });
});

test('the README failover demo fails over: two full zones, then UP in the third', async () => {
  expect((await sr.run(['sim', 'enable', 'examples/sim-two-zones-full.yaml'])).code).toBe(0);
  try {
    const r = await sr.run(['launch', '-y', '-c', 'demo', 'examples/gpu.yaml']);
    expect(r.code).toBe(0);
    const failed = r.stderr.split('\n').filter((l) => /^\s+✗ sim\//.test(l));
    expect(failed.length).toBe(2);
    expect(failed.join('\n')).toMatch(/capacity/i);
    expect(r.stderr).toMatch(/✓ Cluster 'demo' is UP: 1x sim\//);
    expect((await sr.run(['down', '-y', 'demo'])).code).toBe(0);
  } finally {
    await sr.run(['sim', 'disable']);
  }
});

test("status shows managed jobs' clusters, marked; jobs cancel asks for confirmation", async () => {
  const r = await sr.run(['jobs', 'launch', '-y', '-d', '-n', 'mj', '--', 'sleep 120']);
  expect(r.code).toBe(0);
  const id = Number(/Managed job (\d+)/.exec(r.stderr)![1]);
  const row = await eventually(async () =>
    (await sr.run(['status'])).stdout.split('\n').find((l) => l.includes(`UP (managed job ${id})`)),
  );
  expect(row).toMatch(/^\S+\s+local\s+1x local-\S+\s+UP \(managed job \d+\)/);
  const refused = await sr.run(['jobs', 'cancel', String(id)]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(NO_TTY);
  const ok = await sr.run(['jobs', 'cancel', '-y', String(id)]);
  expect(ok.stderr).toContain(`Managed job ${id}: CANCELLED`);
  expect((await sr.run(['status'])).stdout).not.toContain(`managed job ${id}`);
});

test("a cancelled managed job's durations stop together (job duration within total)", () => {
  const now = Date.now();
  const table = managedQueueTable([
    {
      id: 1,
      name: 'x',
      status: 'CANCELLED',
      resources: '1x local',
      submittedAt: now - 600_000,
      startedAt: now - 590_000,
      endedAt: now - 300_000,
      runningSince: now - 580_000,
      jobDurationMs: 0,
      recoveries: 0,
    },
  ]);
  const row = table.split('\n').find((l) => l.startsWith('1 '))!;
  // total: 5m (submitted to ended); job: 4m 40s (running to ended), not still counting
  expect(row).toMatch(/\s5m 0s\s+4m 40s\s+0\s+CANCELLED$/);
});

test("the accelerator hint suggests the nearest offered name, never the user's typo", async () => {
  const r = await sr.run(['launch', '--dryrun', '--gpus', 'A10O', '--', 'true']);
  expect(r.code).toBe(1);
  expect(r.stderr).not.toContain('show-gpus A10O');
  expect(r.stderr).toContain('`skyrun show-gpus A100`');
});

test('every command has help text', async () => {
  const missing: string[] = [];
  const walk = (cmd: Command, prefix: string) => {
    for (const sub of cmd.commands) {
      const name = `${prefix} ${sub.name()}`.trim();
      if (!sub.description()) missing.push(name);
      walk(sub, name);
    }
  };
  walk(buildProgram(), '');
  expect(missing).toEqual([]);
  const help = await sr.run(['server', '--help']);
  expect(help.stdout).toMatch(/start \[options\]\s+Start the embedded Temporal dev server/);
});
