/**
 * The ssh infra end to end with real sshd processes on loopback: node pools, multi-node gangs
 * (ranks, IPs, per-rank logs, a failing rank), workdir and file_mounts sync, host reservation
 * under concurrent launches, a worker SIGKILL and a dropped connection during a job, autostop
 * after a worker restart, autodown, and `ssh <cluster>` (with the host keys recorded on first use).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';
import { SkyrunEnv, eventually, sleep } from './helpers/skyrun';

let sr: SkyrunEnv;
let hosts: FakeHost[];

beforeAll(async () => {
  const key = makeClientKey();
  hosts = [
    await startSshd({ clientKey: key }),
    await startSshd({ clientKey: key }),
    await startSshd({ clientKey: key }),
  ];
  sr = await SkyrunEnv.create('ssh');
  sr.env.SKYRUN_USER_SSH_CONFIG = path.join(sr.home, 'user-ssh-config');
  writeFileSync(
    path.join(sr.home, 'ssh_node_pools.yaml'),
    stringify({
      lab: { user: 'root', identity_file: key, hosts: hosts.map((h) => ({ ip: h.host, port: h.port })) },
    }),
  );
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
  for (const h of hosts ?? []) await h.stop();
});

test('a 3-node gang: every rank runs with the right env vars, logs prefixed per rank; ssh <cluster> logs in', async () => {
  const run = [
    'echo "rank=$SKYPILOT_NODE_RANK nodes=$SKYPILOT_NUM_NODES ips=$(echo $SKYPILOT_NODE_IPS | tr " " ,) gpus=$SKYPILOT_NUM_GPUS_PER_NODE"',
    'echo "alias=$SKYRUN_NODE_RANK home=$HOME"',
    'echo "$SKYPILOT_CLUSTER_INFO"',
  ].join('; ');
  const r = await sr.run(['launch', '-y', '-c', 'gang', '--infra', 'ssh/lab', '--num-nodes', '3', '--', run]);
  expect(r.code).toBe(0);
  const ips = hosts.map((h) => h.host).join(',');
  expect(r.stdout).toContain(`(head, rank=0) rank=0 nodes=3 ips=${ips} gpus=0`);
  expect(r.stdout).toContain(`(worker1, rank=1) rank=1 nodes=3 ips=${ips} gpus=0`);
  expect(r.stdout).toContain(`(worker2, rank=2) rank=2 nodes=3 ips=${ips} gpus=0`);
  for (let i = 0; i < 3; i++) expect(r.stdout).toContain(`rank=${i}) alias=${i} home=${hosts[i]!.home}`);
  expect(r.stdout).toContain('"cluster_name":"gang","cloud":"ssh","region":"lab"');

  // `skyrun ssh` and plain `ssh <cluster>` through the generated config
  const viaCli = await sr.run(['ssh', 'gang', '--node', '2', '--', 'echo', 'hello-from-worker2', '$HOME']);
  expect(viaCli.stdout.trim()).toBe(`hello-from-worker2 ${hosts[2]!.home}`);
  const userConfig = readFileSync(path.join(sr.home, 'user-ssh-config'), 'utf8');
  // one Include for every SKYRUN_HOME: a folder of one file per home, which includes that home's config
  expect(userConfig).toContain(`Include ${path.join(sr.home, 'skyrun-homes')}/*`);
  const { spawnSync } = await import('node:child_process');
  const plain = spawnSync('ssh', ['-F', sr.env.SKYRUN_USER_SSH_CONFIG!, 'gang', 'echo head-at $HOME'], {
    encoding: 'utf8',
  });
  expect(plain.stdout.trim()).toBe(`head-at ${hosts[0]!.home}`);
  // ... checking the host keys recorded on first contact, one per node
  const knownHosts = path.join(sr.home, 'ssh', 'known_hosts', 'gang');
  expect(readFileSync(path.join(sr.home, 'ssh', 'config'), 'utf8')).toContain('StrictHostKeyChecking yes');
  expect(readFileSync(knownHosts, 'utf8').trim().split('\n')).toHaveLength(3);

  // a failing rank fails the job with its exit code; the other ranks are killed
  const fail = await sr.run([
    'exec',
    'gang',
    '--',
    `if [ "$SKYPILOT_NODE_RANK" = 1 ]; then exit 7; fi; sleep 60; echo survived > $HOME/survived`,
  ]);
  expect(fail.code).toBe(100);
  expect((await sr.run(['queue', 'gang'])).stdout).toMatch(/^2\s.*FAILED \(exit 7\)$/m);
  for (const h of hosts) expect(existsSync(path.join(h.home, 'survived'))).toBe(false);

  const down = await sr.run(['down', '-y', 'gang']);
  if (down.code !== 0) throw new Error(down.stderr);
  for (const h of hosts) expect(existsSync(path.join(h.home, '.skyrun-node', 'gang'))).toBe(false);
  expect(readFileSync(path.join(sr.home, 'ssh', 'config'), 'utf8')).not.toContain('Host gang');
  expect(existsSync(knownHosts)).toBe(false); // down forgets the cluster's host keys
});

test('workdir (.gitignore respected) and file_mounts reach every node', async () => {
  const wd = path.join(sr.home, 'project');
  mkdirSync(path.join(wd, 'src'), { recursive: true });
  writeFileSync(path.join(wd, 'src', 'train.py'), 'print("train")\n');
  writeFileSync(path.join(wd, '.gitignore'), '*.ckpt\n');
  writeFileSync(path.join(wd, 'big.ckpt'), 'weights');
  const data = path.join(sr.home, 'data.txt');
  writeFileSync(data, 'dataset v1\n');
  const task = path.join(sr.home, 'sync.yaml');
  writeFileSync(
    task,
    stringify({
      num_nodes: 2,
      resources: { infra: 'ssh/lab' },
      workdir: wd,
      file_mounts: { '~/mounted/data.txt': data, '/tmp/skyrun-ssh-test-mount': path.join(wd, 'src') },
      run: 'cat src/train.py ~/mounted/data.txt; ls; ls /tmp/skyrun-ssh-test-mount',
    }),
  );
  const r = await sr.run(['launch', '-y', '-c', 'sync', task]);
  if (r.code !== 0) throw new Error(r.stderr);
  for (const rank of ['(head, rank=0)', '(worker1, rank=1)']) {
    expect(r.stdout).toContain(`${rank} print("train")`);
    expect(r.stdout).toContain(`${rank} dataset v1`);
    expect(r.stdout).toContain(`${rank} train.py`);
  }
  expect(r.stdout).not.toContain('big.ckpt');
  expect((await sr.run(['down', '-y', 'sync'])).code).toBe(0);
});

test('two concurrent launches never get the same host; the loser fails over to nothing and leaves nothing', async () => {
  const [a, b] = await Promise.all([
    sr.run(['launch', '-y', '-c', 'first', '--infra', 'ssh/lab', '--num-nodes', '2', '--', 'echo $HOME']),
    sr.run(['launch', '-y', '-c', 'second', '--infra', 'ssh/lab', '--num-nodes', '2', '--', 'echo $HOME']),
  ]);
  const codes = [a.code, b.code].sort();
  expect(codes).toEqual([0, 1]);
  const loser = a.code === 0 ? b : a;
  expect(loser.stderr).toMatch(/ssh pool 'lab' has 1 free host\(s\) of 3/);
  const winner = a.code === 0 ? 'first' : 'second';
  const other = winner === 'first' ? 'second' : 'first';
  // once the winner is down its hosts come back
  expect((await sr.run(['down', '-y', winner])).code).toBe(0);
  const again = await sr.run([
    'launch',
    '-y',
    '-c',
    `${other}-again`,
    '--infra',
    'ssh/lab',
    '--num-nodes',
    '3',
    '--',
    'true',
  ]);
  expect(again.code).toBe(0);
  expect((await sr.run(['down', '-y', `${other}-again`])).code).toBe(0);
});

test('a worker SIGKILL and dropped SSH connections during a job: it finishes once with its whole output', async () => {
  const marker = path.join(hosts[0]!.home, 'runs');
  const script = `echo x >> $HOME/runs; for i in $(seq 1 20); do echo line-$i; sleep 0.25; done`;
  expect((await sr.run(['launch', '-y', '-d', '-c', 'sturdy', '--infra', 'ssh/lab', '--', script])).code).toBe(0);
  await eventually(() => existsSync(marker));
  process.kill(sr.workerPid()!, 'SIGKILL');
  hosts[0]!.dropConnections();
  await sleep(1000); // chaos, not a wait: drop the connections the restarted worker opens too
  hosts[0]!.dropConnections();
  const logs = await sr.run(['logs', 'sturdy', '1']);
  expect(logs.code).toBe(0);
  expect(logs.stdout.trim().split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `line-${i + 1}`));
  expect(readFileSync(marker, 'utf8')).toBe('x\n');
  expect((await sr.run(['down', '-y', 'sturdy'])).code).toBe(0);
});

test('autostop stops an idle cluster on time after a worker restart; autodown removes one', async () => {
  expect((await sr.run(['launch', '-y', '-c', 'idle', '--infra', 'ssh/lab', '-i', '0.1', '--', 'true'])).code).toBe(0);
  await sr.killWorker();
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  await eventually(async () => /^idle\s.*STOPPED/m.test((await sr.run(['status'])).stdout), 60_000);
  expect((await sr.run(['exec', 'idle', '--', 'true'])).stderr).toContain('STOPPED');
  // no second autostop while the next command is on its way (6 s of idleness is short on a busy machine)
  expect((await sr.run(['autostop', 'idle', '--cancel'])).code).toBe(0);
  expect((await sr.run(['start', 'idle'])).code).toBe(0);
  expect((await sr.run(['exec', 'idle', '--', 'echo back'])).stdout).toBe('back\n');
  expect((await sr.run(['down', '-y', 'idle'])).code).toBe(0);

  expect(
    (await sr.run(['launch', '-y', '-c', 'gone', '--infra', 'ssh/lab', '-i', '0.05', '--down', '--', 'true'])).code,
  ).toBe(0);
  await eventually(async () => !(await sr.run(['status'])).stdout.includes('gone'), 60_000);
  for (const h of hosts) expect(existsSync(path.join(h.home, '.skyrun-node', 'gone'))).toBe(false);
});
