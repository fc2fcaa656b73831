/**
 * The embedded default end to end: the real CLI against a real Temporal dev server and a
 * background worker, on local infra.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { SkyrunEnv, eventually, REPO } from './helpers/skyrun';

let sr: SkyrunEnv;
let client: Client;

beforeAll(async () => {
  sr = await SkyrunEnv.create('cli');
  const r = await sr.run(['server', 'start']);
  expect(r.code).toBe(0);
  client = await sr.temporalClient();
});

afterAll(async () => {
  await sr?.dispose();
});

async function workflowIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list()) ids.push(wf.workflowId);
  return ids;
}

test('launch runs setup and run, prints the output, exits 0; status, exec, queue, logs, down', async () => {
  const launch = await sr.run(['launch', '-y', '-c', 'hello', 'examples/hello.yaml']);
  expect(launch.stderr).toContain("Cluster 'hello' is UP");
  expect(launch.stdout).toContain('setting up on node 0');
  expect(launch.stdout).toMatch(/hello from SkyRun, task skyrun-\S+_hello_1/);
  expect(launch.stdout).toContain('cwd: sky_workdir');
  expect(launch.code).toBe(0);

  const status = await sr.run(['status']);
  expect(status.stdout).toMatch(/^hello\s+local\s+1x local-\S+\s+UP/m);

  const exec = await sr.run(['exec', 'hello', '--', 'echo', 'x']);
  expect(exec.stdout).toBe('x\n');
  expect(exec.code).toBe(0);

  // exec skips setup
  const exec2 = await sr.run(['exec', 'hello', 'examples/hello.yaml']);
  expect(exec2.stdout).not.toContain('setting up');
  expect(exec2.stdout).toMatch(/hello from SkyRun, task skyrun-\S+_hello_3/);

  const queue = await sr.run(['queue', 'hello']);
  expect(queue.stdout).toMatch(/^3\s+hello\s.*SUCCEEDED$/m);
  expect(queue.stdout).toMatch(/^2\s+-\s.*SUCCEEDED$/m);

  const logs = await sr.run(['logs', 'hello', '1', '--no-follow']);
  expect(logs.stdout).toContain('setting up on node 0');
  expect(logs.stdout).toContain('hello from SkyRun');
  const missing = await sr.run(['logs', 'hello', '42']);
  expect(missing.code).toBe(102);

  const nodeDir = path.join(sr.home, 'clusters', 'hello');
  expect(existsSync(nodeDir)).toBe(true);
  const down = await sr.run(['down', '-y', 'hello']);
  expect(down.code).toBe(0);
  expect(existsSync(nodeDir)).toBe(false);
  expect((await sr.run(['status'])).stdout).toContain('No existing clusters.');
  const d = await client.workflow.getHandle('cluster/hello').describe();
  expect(d.status.name).toBe('COMPLETED');
  expect((await sr.run(['exec', 'hello', '--', 'true'])).code).toBe(1);
});

test('a failing job exits 100; a cancelled job is killed and reported as 103', async () => {
  const fail = await sr.run(['launch', '-y', '-c', 'jobs', '--', 'echo before; exit 7']);
  expect(fail.stdout).toContain('before');
  expect(fail.code).toBe(100);
  const q = await sr.run(['queue', 'jobs']);
  expect(q.stdout).toMatch(/^1\s.*FAILED \(exit 7\)$/m);

  const marker = path.join(sr.home, 'still-running');
  const submit = await sr.run(['exec', 'jobs', '-d', '--', `sleep 60; touch ${marker}`]);
  expect(submit.code).toBe(0);
  await eventually(async () => /^2\s.*RUNNING$/m.test((await sr.run(['queue', 'jobs'])).stdout));
  const cancel = await sr.run(['cancel', '-y', 'jobs', '2']);
  expect(cancel.stderr).toContain('Job 2: CANCELLED');
  const st = await sr.run(['logs', 'jobs', '2', '--status']);
  expect(st.code).toBe(103);
  // the process tree is gone, not merely marked
  const pid = Number(readFileSync(path.join(sr.home, 'clusters/jobs/nodes/0/.skyrun/jobs/2/run.pid'), 'utf8'));
  expect(() => process.kill(pid, 0)).toThrow();
  expect((await sr.run(['down', '-y', 'jobs'])).code).toBe(0);
});

test('--env overrides the file, secrets are redacted from history, null envs are required', async () => {
  const dir = path.join(sr.home, 'tasks');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'envs.yaml');
  writeFileSync(
    file,
    [
      'envs:',
      '  A: from-file',
      '  B: null',
      'secrets:',
      '  TOKEN: null',
      'run: |',
      '  echo "A=$A B=$B token-length=${#TOKEN}"',
      '',
    ].join('\n'),
  );
  const missing = await sr.run(['launch', '-y', '-c', 'envs', file]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('B');
  expect(missing.stderr).toContain('--env');
  expect(await workflowIds()).not.toContain('cluster/envs');

  const secret = 'hunter2-very-secret-value';
  const ok = await sr.run([
    'launch',
    '-y',
    '-c',
    'envs',
    file,
    '--env',
    'A=from-flag',
    '--env',
    'B=b',
    '--secret',
    `TOKEN=${secret}`,
  ]);
  expect(ok.stdout).toContain(`A=from-flag B=b token-length=${secret.length}`);
  expect(ok.code).toBe(0);
  const history = await client.workflow.getHandle('cluster/envs').fetchHistory();
  const raw = JSON.stringify(history);
  expect(raw).not.toContain(secret);
  expect(raw).not.toContain(Buffer.from(secret).toString('base64'));
  expect((await sr.run(['down', '-y', 'envs'])).code).toBe(0);
});

test('invalid tasks exit 2 naming file and line, and start no workflow', async () => {
  const before = await workflowIds();
  const dir = path.join(sr.home, 'bad');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'typo.yaml');
  writeFileSync(file, 'name: t\nresources:\n  cpu: 2\nrun: echo hi\n');
  const r = await sr.run(['launch', '-y', '-c', 'bad', file]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain(`${file}:3:3`);
  expect(r.stderr).toContain("did you mean 'cpus'");
  const flag = await sr.run(['launch', '-y', '-c', 'bad', '--cpus', 'lots', '--', 'true']);
  expect(flag.code).toBe(2);
  expect(flag.stderr).toContain('--cpus');
  const name = await sr.run(['launch', '-y', '-c', 'bad name!', '--', 'true']);
  expect(name.code).toBe(2);
  const service = path.join(dir, 'service.yaml');
  writeFileSync(service, 'service:\n  readiness_probe: /health\n  replicas: 2\nrun: python -m http.server 8000\n');
  const svc = await sr.run(['launch', '-y', '-c', 'bad', service]);
  expect(svc.code).toBe(2);
  expect(svc.stderr).toMatch(/not supported/i);
  const gpu = await sr.run(['launch', '-y', '-c', 'bad', '--gpus', 'H100:8', '--', 'nvidia-smi']);
  expect(gpu.code).toBe(1);
  expect(gpu.stderr).toContain('No enabled infra offers');
  expect(await workflowIds()).toEqual(before);
});

test('--dryrun prints the plan and starts nothing', async () => {
  const before = await workflowIds();
  const r = await sr.run(['launch', '--dryrun', '-c', 'dry', 'examples/hello.yaml']);
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/INFRA\s+INSTANCE\s+vCPUs\s+Mem\(GB\)\s+GPUS\s+COST \(\$\/hr\)\s+CHOSEN/);
  expect(r.stderr).toMatch(/^local\s+local-\S+.*✔$/m);
  expect(await workflowIds()).toEqual(before);
});

test('the Temporal UI and CLI can tell what each workflow is: search attributes and summaries', async () => {
  expect((await sr.run(['launch', '-y', '-c', 'visible', '--', 'echo seen'])).code).toBe(0);
  const found = await eventually(async () => {
    const ids: string[] = [];
    for await (const wf of client.workflow.list({
      query: `SkyrunKind = 'cluster' AND Phase = 'Up' AND Cloud = 'local'`,
    })) {
      ids.push(wf.workflowId);
    }
    return ids.includes('cluster/visible') && ids;
  });
  expect(found).toContain('cluster/visible');
  const history = await client.workflow.getHandle('cluster/visible').fetchHistory();
  const summaries = (history.events ?? [])
    .map((e) => e.userMetadata?.summary?.data)
    .filter((d): d is Uint8Array => !!d)
    .map((d) => JSON.parse(Buffer.from(d).toString()) as string);
  expect(summaries).toContain('optimize');
  expect(summaries.some((s) => /^provision local\/local local-\S+ \(offer 1 of 1\)$/.test(s))).toBe(true);
  expect(summaries).toContain('job 1: start run on 1 node(s)');
  expect((await sr.run(['down', '-y', 'visible'])).code).toBe(0);
});

test("the README's quick start launches examples/hello.yaml (the file the first test launches), which exists", () => {
  const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
  expect(readme).toContain('npx skyrun launch -y examples/hello.yaml');
  expect(existsSync(path.join(REPO, 'examples', 'hello.yaml'))).toBe(true);
  expect(readme).toContain('npm test');
});

test('Ctrl-C while the log streams detaches; the job goes on', async () => {
  const child = sr.spawn(['launch', '-y', '-c', 'detach', '--', 'echo begun; sleep 30']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await eventually(() => out.includes('begun'));
  child.kill('SIGINT');
  const r = await child.result;
  expect(r.code).toBe(101);
  expect(r.stderr).toContain('it goes on running');
  expect((await sr.run(['queue', 'detach'])).stdout).toMatch(/^1\s.*RUNNING$/m);
  expect((await sr.run(['down', '-y', 'detach'])).code).toBe(0);
});

test('--down tears the cluster down once its job ends (autodown); -i shows in status', async () => {
  const r = await sr.run(['launch', '-y', '-c', 'autodown', '--down', '--', 'echo short-lived']);
  expect(r.stdout).toContain('short-lived');
  await eventually(
    async () => (await client.workflow.getHandle('cluster/autodown').describe()).status.name === 'COMPLETED',
  );
  expect(existsSync(path.join(sr.home, 'clusters', 'autodown'))).toBe(false);

  expect((await sr.run(['launch', '-y', '-c', 'idle', '-i', '30', '--', 'true'])).code).toBe(0);
  expect((await sr.run(['status', 'idle'])).stdout).toMatch(/^idle\s.*UP\s+30m\s/m);
  expect((await sr.run(['autostop', 'idle', '-i', '45', '--down'])).code).toBe(0);
  expect((await sr.run(['status', 'idle'])).stdout).toMatch(/^idle\s.*UP\s+45m \(down\)\s/m);
  expect((await sr.run(['down', '-y', 'idle'])).code).toBe(0);
});
