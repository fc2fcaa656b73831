/**
 * Docker mode (`image_id: docker:<image>`) on the ssh infra, end to end with real sshd and real
 * containers (podman; the image is built here, no registry): setup and run execute in the node's
 * container (env vars, workdir, exit code), a later job adopts the same container, a cancel kills
 * the process inside the container, logs stay readable, a stop and start keep docker mode, and
 * `down` removes the container. Through
 * a `docker` CLI (a shim onto podman that records its calls): GPUs passed through, and a private
 * registry's password reaching `login --password-stdin` and no process's arguments or log.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { TEST_IMAGE, dockerShim, prepareContainers, removeContainers, runningContainers } from './helpers/containers';
import { makeClientKey, startSshd, type FakeHost } from './helpers/sshd';
import { SkyrunEnv, eventually } from './helpers/skyrun';

let sr: SkyrunEnv;
let plain: FakeHost;
let shimmed: FakeHost;
let podmanEnv: Record<string, string> = {};
let dir: string;
const shimLog = () => path.join(dir, 'docker-calls.log');

beforeAll(async () => {
  const prepared = prepareContainers();
  podmanEnv = prepared.env;
  dir = prepared.dir;
  const key = makeClientKey();
  plain = await startSshd({ clientKey: key, env: podmanEnv });
  const bin = dockerShim(dir, shimLog());
  shimmed = await startSshd({
    clientKey: key,
    env: { ...podmanEnv, PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` },
  });
  sr = await SkyrunEnv.create('docker');
  writeFileSync(
    path.join(sr.home, 'ssh_node_pools.yaml'),
    stringify({
      plain: { user: 'root', identity_file: key, hosts: [{ ip: plain.host, port: plain.port }] },
      gpu: {
        user: 'root',
        identity_file: key,
        hosts: [{ ip: shimmed.host, port: shimmed.port, accelerators: 'A100:1' }],
      },
    }),
  );
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  removeContainers(['skyrun-dk', 'skyrun-dkgpu'], podmanEnv);
  await sr?.dispose();
  for (const h of [plain, shimmed]) await h?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Host processes whose arguments hold `text` (container processes are host processes too). */
function processesWith(text: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (argv.includes(text)) out.push(`${e}: ${argv}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

const containerId = (name: string) =>
  spawnSync('podman', ['container', 'inspect', '-f', '{{.Id}}', name], {
    encoding: 'utf8',
    env: { ...process.env, ...podmanEnv },
  }).stdout.trim();

test('setup and run execute in the container (podman); a later job adopts it; cancel kills inside; down removes it', async () => {
  const wd = path.join(sr.home, 'project');
  mkdirSync(wd, { recursive: true });
  writeFileSync(path.join(wd, 'data.txt'), 'from the workdir\n');
  const task = path.join(sr.home, 'docker.yaml');
  writeFileSync(
    task,
    stringify({
      resources: { infra: 'ssh/plain', image_id: `docker:${TEST_IMAGE}` },
      workdir: wd,
      envs: { GREETING: 'hello from the env' },
      setup: 'echo "setup in $(. /etc/os-release; echo $ID)" > setup-ran.txt',
      run: 'cat /etc/os-release; echo "greeting=$GREETING rank=$SKYPILOT_NODE_RANK"; cat data.txt; exit 3',
    }),
  );
  const r = await sr.run(['launch', '-y', '-c', 'dk', task]);
  expect(r.code).toBe(100); // the job failed with its own exit code
  expect(r.stdout).toContain('ID=skyrun-test'); // only true inside the image (this machine is Debian)
  expect(r.stdout).toContain('greeting=hello from the env rank=0');
  expect(r.stdout).toContain('from the workdir');
  expect((await sr.run(['queue', 'dk'])).stdout).toMatch(/^1\s.*FAILED \(exit 3\)$/m);
  // setup ran in the container too, and wrote through the workdir mount
  expect(readFileSync(path.join(plain.home, 'sky_workdir', 'setup-ran.txt'), 'utf8')).toBe('setup in skyrun-test\n');
  expect(runningContainers('skyrun-dk', podmanEnv)).toEqual(['skyrun-dk']);
  const id = containerId('skyrun-dk');
  const net = spawnSync('podman', ['container', 'inspect', '-f', '{{.HostConfig.NetworkMode}}', 'skyrun-dk'], {
    encoding: 'utf8',
    env: { ...process.env, ...podmanEnv },
  });
  expect(net.stdout.trim()).toBe('host');

  // a detached job in the same container, cancelled: its process inside the container dies
  const inner = path.join(plain.home, 'sky_workdir', 'inner.pid');
  const job = 'echo $$ > inner.pid; echo started-inside; sleep 3131; echo survived > survived.txt';
  expect((await sr.run(['exec', '-d', 'dk', '--', job])).code).toBe(0);
  await eventually(() => existsSync(inner) && processesWith('sleep 3131').length > 0);
  expect(containerId('skyrun-dk')).toBe(id); // adopted, not made again
  const cancel = await sr.run(['cancel', '-y', 'dk', '2']);
  expect(cancel.code).toBe(0);
  await eventually(async () => /^2\s.*CANCELLED/m.test((await sr.run(['queue', 'dk'])).stdout));
  await eventually(() => processesWith('sleep 3131').length === 0, 10_000);
  expect(existsSync(path.join(plain.home, 'sky_workdir', 'survived.txt'))).toBe(false);
  expect((await sr.run(['logs', 'dk', '2'])).stdout).toContain('started-inside');

  // docker mode outlives a stop and start: the next job runs in the same container
  expect((await sr.run(['stop', '-y', 'dk'])).code).toBe(0);
  expect((await sr.run(['start', 'dk'])).code).toBe(0);
  const again = await sr.run(['exec', 'dk', '--', '. /etc/os-release; echo "after restart in $ID"']);
  expect(again.stdout).toContain('after restart in skyrun-test');
  expect(containerId('skyrun-dk')).toBe(id);

  expect((await sr.run(['down', '-y', 'dk'])).code).toBe(0);
  expect(runningContainers('skyrun-dk', podmanEnv)).toEqual([]);
  expect(containerId('skyrun-dk')).toBe('');
});

test('through docker: GPUs passed through, the registry password only on login stdin', async () => {
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const task = path.join(sr.home, 'private.yaml');
  writeFileSync(
    task,
    stringify({
      resources: { infra: 'ssh/gpu', accelerators: 'A100:1', image_id: 'docker:skyrun-test:1' },
      envs: { SKYPILOT_DOCKER_USERNAME: 'robot', SKYPILOT_DOCKER_SERVER: 'localhost' },
      secrets: { SKYPILOT_DOCKER_PASSWORD: password },
      run: '. /etc/os-release; echo "in $ID"; touch running.txt; sleep 2',
    }),
  );
  const launched = await sr.run(['launch', '-y', '-d', '-c', 'dkgpu', task]);
  if (launched.code !== 0) throw new Error(launched.stderr);
  await eventually(() => existsSync(path.join(shimmed.home, 'sky_workdir', 'running.txt')));
  expect(processesWith(password)).toEqual([]);
  await eventually(async () => /^1\s.*SUCCEEDED/m.test((await sr.run(['queue', 'dkgpu'])).stdout));
  expect((await sr.run(['logs', 'dkgpu', '1'])).stdout).toContain('in skyrun-test');

  const calls = readFileSync(shimLog(), 'utf8');
  expect(calls).toContain('argv: login --username robot --password-stdin localhost\n');
  expect(calls).toContain(`stdin: ${password}\n`);
  expect(calls.split('\n').filter((l) => l.startsWith('argv:') && l.includes(password))).toEqual([]);
  const run = calls.split('\n').find((l) => l.startsWith('argv: run '))!;
  const wd = path.join(shimmed.home, 'sky_workdir');
  const nodeDir = path.join(shimmed.home, '.skyrun-node', 'dkgpu');
  expect(run).toContain('--name skyrun-dkgpu');
  expect(run).toContain('--network host');
  expect(run).toContain('--gpus all');
  expect(run).toMatch(/--shm-size \d+k/);
  expect(run).toContain(`-v ${wd}:${wd} -v ${nodeDir}:${nodeDir}`);
  expect(run).toContain('localhost/skyrun-test:1'); // the server's prefix added to the image
  const nodeLog = readFileSync(path.join(nodeDir, 'jobs', '1', 'log'), 'utf8');
  expect(nodeLog).toContain('in skyrun-test');
  expect(nodeLog).not.toContain(password);

  expect((await sr.run(['down', '-y', 'dkgpu'])).code).toBe(0);
  expect(runningContainers('skyrun-dkgpu', podmanEnv)).toEqual([]);
});
