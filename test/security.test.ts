/**
 * Trust nobody on the wire: a process that can reach the Temporal port but holds no SkyRun key
 * (or another deployment's key) cannot make the worker run anything. Real dev server, real
 * background worker, real Temporal clients.
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, WithStartWorkflowOperation, WorkflowFailedError } from '@temporalio/client';
import { dataConverter } from '../worker/runtime/codec';
import { pokeSignal, statusQuery, submitJobUpdate } from '../workflows/contract';
import { SkyrunEnv, eventually } from './helpers/skyrun';

let sr: SkyrunEnv;
let connection: Connection;

beforeAll(async () => {
  sr = await SkyrunEnv.create('security');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
  connection = await Connection.connect({ address: sr.address });
});

afterAll(async () => {
  await connection?.close();
  await sr?.dispose();
});

/** A client without SkyRun's key: plain payloads (what any local process can send). */
const plainClient = () => new Client({ connection });
/** A client of another deployment: payloads sealed with a key this worker does not hold. */
const otherKeyClient = () =>
  new Client({
    connection,
    dataConverter: dataConverter(randomBytes(32)),
  });

function attackJob(marker: string) {
  return {
    run: `id > ${marker}`,
    envs: {},
    secrets: {},
    numGpusPerNode: 0,
    cpuDemand: 0.5,
  };
}

function attackInput(name: string) {
  const local = { infra: {}, cpus: undefined, memory: undefined } as never;
  return { name, candidates: [local], ordered: false, numNodes: 1, user: 'mallory' };
}

const markerFile = (tag: string) => path.join(os.tmpdir(), `skyrun-pwned-${tag}-${process.pid}`);

test('the embedded server serves no UI unless asked for', async () => {
  const status = await sr.run(['server', 'status']);
  expect(status.stdout).toMatch(/running .* no UI/);
  const open = await new Promise<boolean>((resolve) => {
    const s = net.connect(Number(sr.env.SKYRUN_UI_PORT), '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  expect(open).toBe(false);
});

test.each([
  ['no key', plainClient],
  ['another key', otherKeyClient],
])('a workflow started with %s fails at once, non-retryable, and runs nothing', async (tag, make) => {
  const client = make();
  const name = `evil-${tag.replace(/ /g, '-')}`;
  const marker = markerFile(name);
  const startOp = new WithStartWorkflowOperation('clusterWorkflow', {
    workflowId: `cluster/${name}`,
    taskQueue: 'skyrun',
    args: [attackInput(name)],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  await expect(
    client.workflow.executeUpdateWithStart(submitJobUpdate, {
      args: [attackJob(marker)],
      startWorkflowOperation: startOp,
    }),
  ).rejects.toThrow();
  const handle = client.workflow.getHandle(`cluster/${name}`);
  const err = await handle.result().catch((e) => e);
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause as { type?: string; nonRetryable?: boolean } | undefined;
  expect(cause?.type).toBe('UnsealedPayload');
  expect(cause?.nonRetryable).toBe(true);
  // nothing was provisioned or run
  expect(existsSync(path.join(sr.home, 'clusters', name))).toBe(false);
  expect(existsSync(marker)).toBe(false);
});

test('on a real cluster, updates, queries and signals without the key are refused', async () => {
  const launch = await sr.run(['launch', '-y', '-c', 'real', '--', 'echo', 'ok']);
  expect(launch.code).toBe(0);
  const handle = plainClient().workflow.getHandle('cluster/real');
  const marker = markerFile('update');

  const upd = await handle.executeUpdate(submitJobUpdate, { args: [attackJob(marker)] }).catch((e) => e);
  expect(String(upd?.cause?.message ?? upd?.message)).toMatch(/SkyRun refused the update 'submitJob'/);

  // a query that carries arguments must carry sealed ones (a query without any reads state only:
  // the trust model in the README says who can read)
  const q = (await handle.query<unknown, [string]>('status', 'x').catch((e: Error) => e)) as Error;
  expect(q).toBeInstanceOf(Error);
  // the refusal's text is sealed like every failure: a client without the key reads no more than this
  expect(q.message).toBe('Encoded failure');
  expect((await handle.query(statusQuery)).name).toBe('real');

  await handle.signal(pokeSignal);

  // the owner's CLI still works, and the refused job never ran
  const queue = await sr.run(['queue', 'real']);
  expect(queue.code).toBe(0);
  const rows = queue.stdout.split('\n').filter((l) => /^\d+\s/.test(l));
  expect(rows).toHaveLength(1); // the one real job; the refused one was never queued
  const exec = await sr.run(['exec', 'real', '--', 'echo', 'still mine']);
  expect(exec.stdout).toBe('still mine\n');
  expect(existsSync(marker)).toBe(false);
  await eventually(async () => (await sr.run(['down', '-y', 'real'])).code === 0);
});
