/**
 * No launch hangs silently for want of a worker: the embedded worker's supervisor starts a killed
 * worker again with no command running, a waiting command restarts it when the supervisor is
 * gone too, and with an external server a waiting command says that no worker polls.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { processAlive } from '../activities/infra/runners/local';
import { findTemporalCli } from '../worker/runtime/temporal-cli';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/contract';
import { MAX_START_FAILURES, restartDelay } from '../worker/runtime/supervisor';
import { SkyrunEnv, eventually, freePort, killAndWait } from './helpers/skyrun';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await SkyrunEnv.create('supervisor');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
});

const supervisorPid = () =>
  (JSON.parse(readFileSync(path.join(sr.home, 'worker-supervisor.json'), 'utf8')) as { pid: number }).pid;

test('a killed worker is started again by its supervisor while no command runs; the job finishes', async () => {
  const marks = path.join(sr.home, 'marks');
  const launch = await sr.run(['launch', '-y', '-d', '-c', 'sup', '--', `sleep 4; echo done >> ${marks}`]);
  expect(launch.code).toBe(0);
  const killed = await sr.killWorker();
  const next = await eventually(() => {
    const pid = sr.workerPid();
    return pid !== killed && pid && processAlive(pid) ? pid : undefined;
  });
  expect(next).not.toBe(killed);
  expect(readFileSync(path.join(sr.home, 'worker.log'), 'utf8')).toMatch(
    new RegExp(`the worker \\(pid ${killed}\\) ended with signal SIGKILL; starting it again`),
  );
  await eventually(async () => /^1\s.*SUCCEEDED$/m.test((await sr.run(['queue', 'sup'])).stdout));
  expect(readFileSync(marks, 'utf8')).toBe('done\n');
  expect((await sr.run(['down', '-y', 'sup'])).code).toBe(0);
});

test('worker and supervisor both killed while a launch follows its job: the launch says so, restarts it, finishes', async () => {
  const script = 'for i in $(seq 1 30); do echo tick-$i; sleep 0.3; done';
  const launch = sr.spawn(['launch', '-y', '-c', 'follow', '--', script]);
  let out = '';
  launch.stdout!.on('data', (d) => (out += d));
  await eventually(() => out.includes('tick-2'));
  await killAndWait(supervisorPid());
  await sr.killWorker();
  const r = await launch.result;
  expect(r.stderr).toContain('waiting for a worker: none is running; restarting it');
  expect(r.stdout).toContain('tick-30');
  expect(r.code).toBe(0);
  expect(processAlive(supervisorPid())).toBe(true);
  expect((await sr.run(['down', '-y', 'follow'])).code).toBe(0);
});

test('an external server with no worker: a waiting launch says none polls, then goes on when one starts', async () => {
  const port = await freePort();
  const executable = { type: 'existing-path' as const, path: findTemporalCli()! };
  let server = await TestWorkflowEnvironment.createLocal({ server: { ip: '127.0.0.1', port, ui: false, executable } });
  const external = { TEMPORAL_ADDRESS: `127.0.0.1:${port}` };
  // a server no worker ever served lacks SkyRun's search attributes: the launch says what to do
  const bare = await sr.run(['launch', '-y', '-d', '-c', 'nowork', '--', 'echo hi'], { env: external });
  expect(bare.code).toBe(1);
  expect(bare.stderr).toContain("search attributes are not registered on this server: start 'skyrun worker' once");
  await server.teardown();
  const extraArgs = SEARCH_ATTRIBUTE_FLAGS.flatMap((sa) => ['--search-attribute', sa]);
  server = await TestWorkflowEnvironment.createLocal({
    server: { ip: '127.0.0.1', port, ui: false, executable, extraArgs },
  });
  const launch = sr.spawn(['launch', '-y', '-d', '-c', 'nowork', '--', 'echo hi'], { env: external });
  let err = '';
  launch.stderr!.on('data', (d) => (err += d));
  let worker: ReturnType<SkyrunEnv['spawn']> | undefined;
  try {
    await eventually(() => err.includes('waiting for a worker: none has polled'));
    expect(err).toContain(`task queue 'skyrun' on 127.0.0.1:${port}`);
    expect(err).toContain("start one with 'skyrun worker'");
    worker = sr.spawn(['worker'], { env: external });
    const r = await launch.result;
    expect(r.code).toBe(0);
    expect((await sr.run(['down', '-y', 'nowork'], { env: external })).code).toBe(0);
  } finally {
    launch.kill('SIGKILL');
    worker?.kill('SIGTERM');
    await worker?.result;
    await server.teardown();
  }
});

test('restart policy: quick after a worker that was up, growing and bounded while one cannot start', () => {
  expect(restartDelay(true, 0)).toBe(250);
  const delays = Array.from({ length: MAX_START_FAILURES }, (_, i) => restartDelay(false, i + 1));
  expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 30000]);
});
