/**
 * A worker killed with SIGKILL while a job runs: the job (detached on its node) goes on, a new
 * worker re-attaches through the retried status activity, and the job finishes exactly once
 * with its whole output.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { SkyrunEnv, eventually } from './helpers/skyrun';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await SkyrunEnv.create('crash');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
});

test('worker SIGKILL during a job: restarted, the job finishes once with all its output', async () => {
  const runs = path.join(sr.home, 'runs.txt');
  const script = `echo started >> ${runs}; for i in $(seq 1 25); do echo line-$i; sleep 0.2; done; echo finished >> ${runs}`;
  const launch = await sr.run(['launch', '-y', '-d', '-c', 'crash', '--', script]);
  expect(launch.code).toBe(0);
  const log = path.join(sr.home, 'clusters/crash/nodes/0/.skyrun/jobs/1/log');
  await eventually(() => existsSync(log) && readFileSync(log, 'utf8').includes('line-2'));

  for (let round = 0; round < 2; round++) {
    const pid = await sr.killWorker();
    // the next command brings a new worker up (the embedded default)
    const q = await sr.run(['queue', 'crash']);
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    expect(sr.workerPid()).not.toBe(pid);
  }

  const logs = await sr.run(['logs', 'crash', '1']);
  expect(logs.code).toBe(0);
  const lines = logs.stdout.trim().split('\n');
  expect(lines).toEqual(Array.from({ length: 25 }, (_, i) => `line-${i + 1}`));
  expect(readFileSync(runs, 'utf8')).toBe('started\nfinished\n');
  const q = await sr.run(['queue', 'crash']);
  expect(q.stdout).toMatch(/^1\s.*SUCCEEDED$/m);
  expect((await sr.run(['down', '-y', 'crash'])).code).toBe(0);
});
