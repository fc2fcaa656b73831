/**
 * Names are a name space: a managed job's cluster cannot be named by a user, every entry point
 * checks cluster names against one rule, and the local provider never leaves its own folder.
 * Real CLI, dev server and worker on local infra.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { createProviders } from '../activities/infra/clouds';
import { CLUSTER_NAME_MAX, NAME_MAX, managedClusterName, validateClusterName, validateName } from '../core/names';
import { dataConverter } from '../worker/runtime/codec';
import { clusterWorkflowId, TASK_QUEUE } from '../workflows/contract';
import { SkyrunEnv, eventually } from './helpers/skyrun';

let sr: SkyrunEnv;

beforeAll(async () => {
  sr = await SkyrunEnv.create('names');
  expect((await sr.run(['server', 'start'])).code).toBe(0);
});

afterAll(async () => {
  await sr?.dispose();
});

test('the rule: users name with a letter first; a managed cluster starts with its id, which no user can type', () => {
  expect(validateName('coll-2')).toBeUndefined();
  expect(validateName('2-coll')).toMatch(/starts with a letter/);
  expect(validateName('a'.repeat(NAME_MAX + 1))).toMatch(`at most ${NAME_MAX}`);
  for (const bad of ['../x', 'a/b', '..', '.x', 'a b', '', 'x\u0000y']) expect(validateClusterName(bad)).toBeDefined();
  const managed = managedClusterName(2, 'coll');
  expect(managed).toBe('2-coll');
  expect(validateName(managed)).toBeDefined();
  expect(validateClusterName(managed)).toBeUndefined();
  expect(validateClusterName(managedClusterName(123456789, 'x'.repeat(NAME_MAX)))).toBeUndefined();
  expect(validateClusterName('x'.repeat(CLUSTER_NAME_MAX + 1))).toBeDefined();
});

test('a managed job and a user cluster of the colliding name each run their own command', async () => {
  const marker = path.join(sr.home, 'mj-ran');
  const jobs = await sr.run(['jobs', 'launch', '-y', '-d', '-n', 'coll', '--', `sleep 3; echo managed >> ${marker}`]);
  expect(jobs.code).toBe(0);
  const id = Number(/Managed job (\d+) \(/.exec(jobs.stderr)![1]);

  // the name the old scheme gave the managed job's cluster is the user's to take
  const mine = await sr.run(['launch', '-y', '-c', `coll-${id}`, '--', 'echo', 'mine']);
  expect(mine.code).toBe(0);
  expect(mine.stdout).toBe('mine\n');
  // and the managed job's own name space is refused, before anything starts
  const taken = await sr.run(['launch', '-y', '-c', managedClusterName(id, 'coll'), '--', 'echo', 'x']);
  expect(taken.code).toBe(2);
  expect(taken.stderr).toMatch(/invalid cluster name/);

  // downing the user's cluster leaves the managed job alone; it finishes on its own cluster
  expect((await sr.run(['down', '-y', `coll-${id}`])).code).toBe(0);
  await eventually(async () => /SUCCEEDED/.test((await sr.run(['jobs', 'queue'])).stdout), 90_000);
  expect(readFileSync(marker, 'utf8')).toBe('managed\n');
  expect(existsSync(path.join(sr.home, 'clusters', `coll-${id}`))).toBe(false);
});

test('a workflow started (with the key) under a traversal name fails at once and removes nothing', async () => {
  const victim = mkdtempSync(path.join(os.tmpdir(), 'skyrun-victim-'));
  writeFileSync(path.join(victim, 'keep'), 'x');
  const traversal = path.relative(path.join(sr.home, 'clusters'), victim);
  expect(traversal.startsWith('..')).toBe(true);
  const connection = await Connection.connect({ address: sr.address });
  try {
    const key = Buffer.from(readFileSync(path.join(sr.home, 'codec.key'), 'utf8').trim(), 'base64');
    const client = new Client({ connection, dataConverter: dataConverter(key) });
    const h = await client.workflow.start('clusterWorkflow', {
      workflowId: clusterWorkflowId(traversal),
      taskQueue: TASK_QUEUE,
      args: [{ name: traversal, candidates: [{ infra: {} }], ordered: false, numNodes: 1, user: 'x' }],
    });
    const err = await h.result().catch((e) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause?.message).toMatch(/expected a cluster name/);
    expect(existsSync(path.join(victim, 'keep'))).toBe(true);
  } finally {
    await connection.close();
    rmSync(victim, { recursive: true, force: true });
  }
});

test('providers refuse a bad cluster name as a permanent error, whoever calls them', async () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-names-'));
  const saved = process.env.SKYRUN_HOME;
  process.env.SKYRUN_HOME = home;
  try {
    mkdirSync(path.join(home, 'x'), { recursive: true });
    const local = createProviders().get('local');
    for (const bad of ['../x', '..', 'a/../../x', 'y'.repeat(300)]) {
      await expect(local.terminate(bad)).rejects.toMatchObject({ errorClass: 'invalid' });
      await expect(local.query(bad)).rejects.toMatchObject({ errorClass: 'invalid' });
    }
    expect(existsSync(path.join(home, 'x'))).toBe(true);
  } finally {
    process.env.SKYRUN_HOME = saved;
    rmSync(home, { recursive: true, force: true });
  }
});

test('the CLI refuses a 300-character or traversal cluster name with exit 2, starting nothing', async () => {
  for (const bad of ['y'.repeat(300), '../../tmp/x']) {
    const r = await sr.run(['launch', '-y', '-c', bad, '--', 'echo', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/invalid cluster name/);
  }
  const list = await sr.run(['status']);
  expect(list.stdout).not.toMatch(/yyyy/);
});
