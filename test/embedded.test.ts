/**
 * The embedded default's lifecycle (start once, reuse, status, stop), and production mode:
 * with TEMPORAL_ADDRESS set, SkyRun starts nothing and a foreground `skyrun worker` serves
 * launches, registering the search attributes the server lacks.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { processAlive } from '../activities/infra/runners/local';
import { findTemporalCli } from '../worker/runtime/temporal-cli';
import { SkyrunEnv, eventually, freePort } from './helpers/skyrun';

test('server start is idempotent; status and stop report and end it', async () => {
  const sr = await SkyrunEnv.create('embedded');
  try {
    const before = await sr.run(['server', 'status']);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain('server: stopped');
    const first = await sr.run(['server', 'start']);
    expect(first.stdout).toMatch(/^Started: 127\.0\.0\.1:\d+/);
    const second = await sr.run(['server', 'start']);
    expect(second.stdout).toMatch(/^Already running/);
    const status = await sr.run(['server', 'status']);
    expect(status.code).toBe(0);
    const serverPid = Number(/running \(pid (\d+)\)/.exec(status.stdout)![1]);
    const workerPid = sr.workerPid()!;
    expect(status.stdout).toContain('restarted by its supervisor if it dies');
    const supervisorPid = (
      JSON.parse(readFileSync(path.join(sr.home, 'worker-supervisor.json'), 'utf8')) as { pid: number }
    ).pid;
    expect(processAlive(serverPid) && processAlive(workerPid) && processAlive(supervisorPid)).toBe(true);
    expect(existsSync(path.join(sr.home, 'server', 'temporal.db'))).toBe(true);
    const stop = await sr.run(['server', 'stop']);
    expect(stop.stdout).toContain('Stopped');
    expect(processAlive(serverPid)).toBe(false);
    expect(processAlive(workerPid)).toBe(false);
    expect(processAlive(supervisorPid)).toBe(false);
  } finally {
    await sr.dispose();
  }
});

test('TEMPORAL_ADDRESS: nothing is started; a foreground worker serves the launch', async () => {
  const port = await freePort();
  const server = await TestWorkflowEnvironment.createLocal({
    server: { ip: '127.0.0.1', port, ui: false, executable: { type: 'existing-path', path: findTemporalCli()! } },
  });
  const sr = await SkyrunEnv.create('external');
  const external = { TEMPORAL_ADDRESS: `127.0.0.1:${port}` };
  const worker = sr.spawn(['worker'], { env: external });
  try {
    let out = '';
    worker.stdout!.on('data', (d) => (out += d));
    await eventually(() => out.includes('SkyRun worker polling'));
    const r = await sr.run(['launch', '-y', '-c', 'ext', '--', 'echo via-external'], { env: external });
    expect(r.stdout).toContain('via-external');
    expect(r.code).toBe(0);
    expect(existsSync(path.join(sr.home, 'server'))).toBe(false);
    expect(existsSync(path.join(sr.home, 'worker.json'))).toBe(false);
    // the worker registered SkyRun's search attributes, so filtering works
    const ids: string[] = [];
    for await (const wf of server.client.workflow.list({ query: `ClusterName = 'ext' AND SkyrunKind = 'cluster'` }))
      ids.push(wf.workflowId);
    expect(ids).toEqual(['cluster/ext']);
    expect((await sr.run(['down', '-y', 'ext'], { env: external })).code).toBe(0);
  } finally {
    worker.kill('SIGTERM');
    const { code } = await worker.result;
    expect(code).toBe(0);
    await server.teardown();
    await sr.dispose();
  }
});
