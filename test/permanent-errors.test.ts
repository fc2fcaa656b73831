/**
 * Permanent errors end in bounded time: what can never run is refused up front (exit 2, no
 * workflow), and when it reaches a node anyway (the typed client skips the CLI's checks) the job
 * ends FAILED_DRIVER with the reason instead of retrying forever. A stuck job activity does not
 * hold `cancel` or `down`, and a teardown that keeps failing is reported, not waited on.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { jobDir } from '../activities/infra/runners/local';
import type { SkyrunClient } from '../client/client';
import { taskFromCommand } from '../core/task';
import { simEnv, writeSimConfig } from './helpers/sim';
import { eventually, type SkyrunEnv } from './helpers/skyrun';

jest.setTimeout(300_000);

let sr: SkyrunEnv;
let raw: Client;
let typed: SkyrunClient;
let tasks: string;

beforeAll(async () => {
  sr = await simEnv('permanent');
  tasks = mkdtempSync(path.join(os.tmpdir(), 'skyrun-permanent-tasks-'));
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  raw = await sr.temporalClient();
  // the typed client reads its server and key from the environment, as the CLI does
  Object.assign(process.env, sr.env);
  const { SkyrunClient } = await import('../client/client');
  typed = await SkyrunClient.connect({ needWorker: false });
});

afterAll(async () => {
  await typed?.close();
  await sr?.dispose();
});

async function workflowIds(): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of raw.workflow.list()) ids.push(wf.workflowId);
  return ids;
}

/** The job's record once it has ended (bounded: a permanent error must not retry forever). */
async function ended(cluster: string, jobId: number, timeoutMs = 60_000) {
  return eventually(async () => {
    const job = (await typed.info(cluster))?.jobs.find((j) => j.id === jobId);
    return job && ['SUCCEEDED', 'FAILED', 'FAILED_SETUP', 'FAILED_DRIVER', 'CANCELLED'].includes(job.status)
      ? job
      : undefined;
  }, timeoutMs);
}

test('what can never run is refused with exit 2 naming the field, and starts no workflow', async () => {
  const before = await workflowIds();
  // (a value this large cannot even be given on a command line: spawn E2BIG)
  const bigFile = path.join(tasks, 'big.yaml');
  writeFileSync(bigFile, `envs:\n  BIG: ${'x'.repeat(200_000)}\nrun: 'true'\n`);
  const big = await sr.run(['launch', '-y', '-c', 'never', '--infra', 'sim', bigFile]);
  expect(big.code).toBe(2);
  expect(big.stderr).toContain('envs.BIG');
  expect(big.stderr).toContain('at most 131071');

  const secrets = path.join(tasks, 'nul.env');
  writeFileSync(secrets, 'TOKEN=abc\0def\n', { mode: 0o600 });
  const nul = await sr.run(['launch', '-y', '-c', 'never', '--infra', 'sim', '--secret-file', secrets, '--', 'true']);
  expect(nul.code).toBe(2);
  expect(nul.stderr).toContain('secrets.TOKEN');
  expect(nul.stderr).toContain('NUL');
  expect(nul.stderr).not.toContain('def');

  const file = path.join(tasks, 'workdir.yaml');
  writeFileSync(file, `workdir: ${path.join(tasks, 'no-such-folder')}\nrun: ls\n`);
  const wd = await sr.run(['launch', '-y', '-c', 'never', '--infra', 'sim', file]);
  expect(wd.code).toBe(2);
  expect(wd.stderr).toContain(file);
  expect(wd.stderr).toContain('workdir');
  expect(wd.stderr).toContain('does not exist; expected a local folder');
  expect(await workflowIds()).toEqual(before);
});

test('an env the OS refuses and a NUL byte in a secret end the job FAILED_DRIVER with the reason', async () => {
  const up = await sr.run(['launch', '-y', '-c', 'perm', '--infra', 'sim', '--', 'echo ok']);
  expect(up.code).toBe(0);

  // past the CLI's checks, as another client could send it
  const big = taskFromCommand('echo never');
  big.envs.BIG = 'x'.repeat(200_000);
  const { jobId: bigId } = await typed.exec('perm', big);
  const bigJob = await ended('perm', bigId);
  expect(bigJob.status).toBe('FAILED_DRIVER');
  expect(bigJob.failureReason).toContain('E2BIG');

  const nul = taskFromCommand('echo never');
  nul.secrets.TOKEN = 'abc\0def-nul-secret';
  const { jobId: nulId } = await typed.exec('perm', nul);
  const nulJob = await ended('perm', nulId);
  expect(nulJob.status).toBe('FAILED_DRIVER');
  expect(nulJob.failureReason).toContain('NUL');
  expect(nulJob.failureReason).not.toContain('def-nul-secret');

  const status = await sr.run(['logs', 'perm', String(bigId), '--status']);
  expect(status.code).toBe(100);
  expect(status.stdout).toContain('FAILED_DRIVER');
  expect(status.stdout).toContain('E2BIG');
  const queue = await sr.run(['queue', 'perm']);
  expect(queue.stdout).toContain(`Job ${bigId} FAILED_DRIVER:`);
  expect(queue.stdout).toContain(`Job ${nulId} FAILED_DRIVER:`);
});

test('cancel and down finish while a job activity is stuck retrying', async () => {
  const info = await typed.info('perm');
  const node = info!.handle!.nodes[0]!.runner;
  if (node.kind !== 'local') throw new Error('sim nodes are local folders');
  // a file where the job's folder goes: its start fails (and is retried) for ever
  const stuckNext = (id: number) => {
    mkdirSync(path.dirname(jobDir(node.root, id)), { recursive: true });
    writeFileSync(jobDir(node.root, id), 'not a folder');
  };
  const next = Math.max(...info!.jobs.map((j) => j.id)) + 1;
  stuckNext(next);
  expect((await sr.run(['exec', '-d', 'perm', '--', 'echo never'])).code).toBe(0);
  await eventually(async () => (await typed.info('perm'))?.jobs.find((j) => j.id === next)?.status === 'RUNNING');
  const t0 = Date.now();
  const cancel = await sr.run(['cancel', '-y', 'perm', String(next)]);
  expect(cancel.code).toBe(0);
  expect(cancel.stderr).toContain(`Job ${next}: CANCELLED`);
  expect(Date.now() - t0).toBeLessThan(60_000);

  stuckNext(next + 1);
  expect((await sr.run(['exec', '-d', 'perm', '--', 'echo never'])).code).toBe(0);
  await eventually(async () => (await typed.info('perm'))?.jobs.find((j) => j.id === next + 1)?.status === 'RUNNING');
  const t1 = Date.now();
  const down = await sr.run(['down', '-y', 'perm']);
  expect(down.stderr).toContain("Cluster 'perm' terminated.");
  expect(down.code).toBe(0);
  expect(Date.now() - t1).toBeLessThan(90_000);
});

test('a teardown that keeps failing: down says cleanup is blocked, with the reason, and exits 1', async () => {
  expect((await sr.run(['launch', '-y', '-c', 'blk', '--infra', 'sim', '--', 'true'])).code).toBe(0);
  writeSimConfig(sr, { transient_error_rate: 1 });
  const down = await sr.run(['down', '-y', 'blk']);
  expect(down.code).toBe(1);
  expect(down.stderr).toContain("Cluster 'blk': cleanup is blocked");
  expect(down.stderr).toContain('RequestLimitExceeded');
  const status = await sr.run(['status', 'blk']);
  expect(status.stdout).toContain('TERMINATING (cleanup blocked)');
});
