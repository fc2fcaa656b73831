/** The local runner with real processes: exactly-once starts, states, kill, logs. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalRunner, jobDir, processAlive } from '../activities/infra/runners/local';
import { waitForPhase } from '../activities/infra/runners/runner';
import { mvShim } from './helpers/mv-shim';
import { eventually } from './helpers/skyrun';

let root: string;
let runner: LocalRunner;
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'skyrun-runner-'));
  runner = new LocalRunner(root);
});
afterEach(async () => {
  for (const id of [1, 2, 3]) await runner.kill(id);
  // a wrapper spawned by a start that adopted an earlier one may still be booting (it exits at its
  // lock); under load it can create its lock while the folder is being removed: retry
  rmSync(root, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
});

test('concurrent and repeated starts of one phase run it exactly once', async () => {
  const counter = path.join(root, 'count');
  const req = {
    jobId: 1,
    phase: 'run' as const,
    script: `echo x >> ${counter}; echo out-$RANKVAR`,
    env: { ...env, RANKVAR: 'r0' },
  };
  await Promise.all([runner.startDetached(req), runner.startDetached(req), runner.startDetached(req)]);
  await runner.startDetached(req);
  await eventually(async () => (await runner.phaseState(1, 'run')).state === 'done');
  await runner.startDetached(req); // after it finished: still adopted, not re-run
  expect(readFileSync(counter, 'utf8')).toBe('x\n');
  expect(await runner.phaseState(1, 'run')).toEqual({ state: 'done', exitCode: 0 });
  const { data } = await runner.readLog(1, 0);
  expect(data.toString()).toBe('out-r0\n');
});

test('states: absent, running, done with the exit code; the cwd is the workdir', async () => {
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'absent' });
  await runner.startDetached({ jobId: 2, phase: 'run', script: 'pwd; sleep 1; exit 5', env });
  expect((await runner.phaseState(2, 'run')).state).toBe('running');
  await eventually(async () => (await runner.phaseState(2, 'run')).state === 'done');
  expect(await runner.phaseState(2, 'run')).toEqual({ state: 'done', exitCode: 5 });
  const { data, offset } = await runner.readLog(2, 0);
  expect(data.toString().trim()).toBe(path.join(root, 'sky_workdir'));
  expect((await runner.readLog(2, offset)).data.length).toBe(0);
});

test('kill ends the whole process tree and records an exit code', async () => {
  const childPidFile = path.join(root, 'child.pid');
  await runner.startDetached({ jobId: 3, phase: 'run', script: `sleep 300 & echo $! > ${childPidFile}; wait`, env });
  const childPid = Number(
    await eventually(() => {
      try {
        return readFileSync(childPidFile, 'utf8');
      } catch {
        return undefined;
      }
    }),
  );
  expect(processAlive(childPid)).toBe(true);
  await runner.kill(3);
  expect(processAlive(childPid)).toBe(false);
  expect(await runner.phaseState(3, 'run')).toEqual({ state: 'done', exitCode: 143 });
});

test('a phase whose process vanished without an exit code is lost', async () => {
  await runner.startDetached({ jobId: 1, phase: 'setup', script: 'sleep 300', env });
  const pid = Number(readFileSync(path.join(jobDir(root, 1), 'setup.pid'), 'utf8'));
  process.kill(-pid, 'SIGKILL');
  await eventually(() => !processAlive(pid));
  expect(await runner.phaseState(1, 'setup')).toEqual({ state: 'lost' });
});

test('the wrapper runs its last command in a child, never by exec in its own pid (that read as lost)', async () => {
  const shim = mvShim(root);
  await runner.startDetached({ jobId: 1, phase: 'run', script: 'true', env: { PATH: `${shim.bin}:${env.PATH}` } });
  await eventually(async () => (await runner.phaseState(1, 'run')).state === 'done');
  const wrapper = Number(readFileSync(path.join(jobDir(root, 1), 'run.pid'), 'utf8'));
  expect(shim.pids()).toHaveLength(2); // the pid file's mv and the exit file's
  expect(shim.pids()).not.toContain(wrapper);
});

test('waitForPhase: the state once the phase ended, or still running at the limit', async () => {
  await runner.startDetached({ jobId: 2, phase: 'run', script: 'sleep 0.3; exit 4', env });
  expect(await waitForPhase(runner, 2, 'run', 5000)).toEqual({ state: 'done', exitCode: 4 });
  await runner.startDetached({ jobId: 3, phase: 'run', script: 'sleep 300', env });
  expect((await waitForPhase(runner, 3, 'run', 200)).state).toBe('running');
});
