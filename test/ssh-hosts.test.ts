/**
 * SSH pool hosts as people have them, with real sshd processes on loopback: a host without the
 * SFTP subsystem runs a job with a workdir and file_mounts (files go as a tar stream over exec);
 * a host whose PATH lacks tools SkyRun runs there is refused naming them, and the launch fails
 * over to the next pool and, within it, to the next host; a job that ends FAILED_SETUP or
 * FAILED_DRIVER says why in the launch output and in `queue`, in one line without a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';
import { SkyrunEnv } from './helpers/skyrun';

let sr: SkyrunEnv;
let plain: FakeHost;
let broken: FakeHost;
let good: FakeHost;
let key: string;

beforeAll(async () => {
  key = makeClientKey();
  plain = await startSshd({ clientKey: key, noSftp: true });
  broken = await startSshd({ clientKey: key, withoutTools: ['setsid', 'tar'] });
  good = await startSshd({ clientKey: key });
  sr = await SkyrunEnv.create('ssh-hosts');
  const pool = (hs: FakeHost[]) => ({
    user: 'root',
    identity_file: key,
    hosts: hs.map((h) => ({ ip: h.host, port: h.port })),
  });
  writeFileSync(
    path.join(sr.home, 'ssh_node_pools.yaml'),
    stringify({ plain: pool([plain]), broken: pool([broken]), mixed: pool([broken, good]) }),
  );
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
  for (const h of [plain, broken, good]) await h?.stop();
});

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .+[:(]/m);

test('a host without the sftp subsystem runs a job with a workdir and file_mounts', async () => {
  // the host really refuses SFTP
  const sftp = spawnSync(
    'sftp',
    ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'].concat([
      '-i',
      key,
      '-P',
      String(plain.port),
      `root@${plain.host}`,
    ]),
    { input: 'ls\n', encoding: 'utf8', timeout: 20_000 },
  );
  expect(sftp.status).not.toBe(0);

  const wd = path.join(sr.home, 'project');
  mkdirSync(path.join(wd, 'src'), { recursive: true });
  writeFileSync(path.join(wd, 'src', 'train.py'), 'print("train")\n');
  writeFileSync(path.join(wd, '.gitignore'), '*.ckpt\n');
  writeFileSync(path.join(wd, 'big.ckpt'), 'weights');
  const data = path.join(sr.home, 'data.txt');
  writeFileSync(data, 'dataset v1\n');
  const task = path.join(sr.home, 'plain.yaml');
  writeFileSync(
    task,
    stringify({
      resources: { infra: 'ssh/plain' },
      workdir: wd,
      file_mounts: { '~/mounted/data.txt': data, '/tmp/skyrun-ssh-hosts-mount': path.join(wd, 'src') },
      setup: 'echo setup-ran',
      run: 'cat src/train.py ~/mounted/data.txt; ls; ls /tmp/skyrun-ssh-hosts-mount',
    }),
  );
  const r = await sr.run(['launch', '-y', '-c', 'plain', task]);
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  expect(r.stdout).toContain('setup-ran');
  expect(r.stdout).toContain('print("train")');
  expect(r.stdout).toContain('dataset v1');
  expect(r.stdout).toContain('train.py');
  expect(r.stdout).not.toContain('big.ckpt');
  expect(r.stderr).toContain('✓ Job 1 finished: SUCCEEDED');

  // a setup that fails: the reason, one line, and no check mark
  const setup = path.join(sr.home, 'bad-setup.yaml');
  writeFileSync(setup, stringify({ resources: { infra: 'ssh/plain' }, setup: 'exit 3', run: 'echo never' }));
  const s = await sr.run(['launch', '-y', '-c', 'plain', setup]);
  expect(s.code).not.toBe(0);
  expect(s.stderr).toContain('✗ Job 2 finished: FAILED_SETUP');
  expect(s.stderr).toMatch(/reason: the setup commands exited with code 3/);
  expect(s.stdout).not.toContain('never');

  // a file mount that cannot be written: FAILED_DRIVER with the node's own words
  const driver = path.join(sr.home, 'bad-mount.yaml');
  writeFileSync(
    driver,
    stringify({ resources: { infra: 'ssh/plain' }, file_mounts: { '/proc/skyrun-no/data.txt': data }, run: 'true' }),
  );
  const d = await sr.run(['launch', '-y', '-c', 'plain', driver]);
  expect(d.code).not.toBe(0);
  expect(d.stderr).toContain('✗ Job 3 finished: FAILED_DRIVER');
  expect(d.stderr).toMatch(/reason: .*copying files failed: .*\/proc\/skyrun-no/);
  noStackTrace(d.stdout + d.stderr);

  const q = await sr.run(['queue', 'plain']);
  expect(q.stdout).toMatch(/^Job 2 FAILED_SETUP: the setup commands exited with code 3/m);
  expect(q.stdout).toMatch(/^Job 3 FAILED_DRIVER: .*copying files failed/m);
  noStackTrace(q.stdout);
  const st = await sr.run(['logs', 'plain', '3', '--status']);
  expect(st.stdout).toMatch(/reason: .*copying files failed/);
  expect((await sr.run(['down', '-y', 'plain'])).code).toBe(0);
}, 60_000);

test('a host missing tools is refused naming them; the launch fails over to the next pool, then host', async () => {
  const task = path.join(sr.home, 'failover.yaml');
  writeFileSync(
    task,
    stringify({
      resources: { ordered: [{ infra: 'ssh/broken' }, { infra: 'ssh/mixed' }] },
      run: 'echo "ran at $HOME"',
    }),
  );
  const r = await sr.run(['launch', '-y', '-c', 'failover', task]);
  if (r.code !== 0) throw new Error(r.stdout + r.stderr);
  const refusal = `host ${broken.host}: missing setsid, tar (needed by SkyRun's job wrapper)`;
  // the broken pool's attempt says why, in one line; the mixed pool then skips its broken host
  expect(r.stderr).toMatch(new RegExp(`✗ ssh/broken.*: unknown: ${refusal.replace(/[.()]/g, '\\$&')}$`, 'm'));
  expect(r.stdout).toContain(`ran at ${good.home}`);
  noStackTrace(r.stderr);
  expect((await sr.run(['down', '-y', 'failover'])).code).toBe(0);
}, 60_000);
