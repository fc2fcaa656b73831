/** The SkyRun worker: one task queue, SkyRun's workflows and activities. */
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { homePath } from '../activities/infra/home';
import { TASK_QUEUE } from '../workflows/contract';
import { serveHealth } from './health';
import { dataConverter } from './runtime/codec';
import { registerSearchAttributes } from './runtime/search-attributes';
import { serverSettings } from './runtime/config';
import { buildId, startServer, workerFile } from './runtime/embedded';

/** Workflow code: the bundle `npm run build` writes, or the sources (bundled at start). */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'interceptors'> {
  const bundle = path.join(__dirname, '..', 'workflow-bundle.js');
  return existsSync(bundle)
    ? { workflowBundle: { codePath: bundle } }
    : {
        workflowsPath: require.resolve('../workflows'),
        interceptors: { workflowModules: [require.resolve('../workflows/interceptors')] },
      };
}

export async function createWorker(connection: NativeConnection, namespace: string, opts: Partial<WorkerOptions> = {}) {
  return Worker.create({
    connection,
    namespace,
    taskQueue: TASK_QUEUE,
    ...workflowSource(),
    activities: createActivities(),
    dataConverter: dataConverter(),
    maxConcurrentActivityTaskExecutions: 200,
    // a killed worker's sticky queue hands its workflows back to the shared queue quickly
    stickyQueueScheduleToStartTimeout: '2s',
    // heartbeats carry cancellation: a cancelled provision stops within a couple of seconds
    maxHeartbeatThrottleInterval: '2s',
    ...opts,
  });
}

/** Register SkyRun's search attributes on a server that lacks them (production servers). */
async function ensureSearchAttributes(connection: NativeConnection, namespace: string): Promise<void> {
  try {
    await registerSearchAttributes(connection.operatorService, namespace);
  } catch (e) {
    console.warn(
      `could not register search attributes (${(e as Error).message}); register them with 'temporal operator search-attribute create'`,
    );
  }
}

/** Run a worker until SIGINT/SIGTERM. `background`: started by the CLI, reports readiness in SKYRUN_HOME. */
export async function runWorker(opts: { background: boolean }): Promise<void> {
  const settings = serverSettings();
  if (settings.embedded) await startServer((m) => console.error(m));
  const connection = await NativeConnection.connect(settings.connectionOptions);
  if (!settings.embedded) await ensureSearchAttributes(connection, settings.namespace);
  const worker = await createWorker(connection, settings.namespace);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => worker.shutdown());
  const healthAddr = process.env.SKYRUN_WORKER_HEALTH_ADDR;
  const health = healthAddr ? await serveHealth(healthAddr, () => worker.getState()) : undefined;
  if (opts.background) {
    writeFileSync(workerFile(), JSON.stringify({ pid: process.pid, build: buildId(), ready: true }));
  } else {
    console.log(
      `SkyRun worker polling task queue '${TASK_QUEUE}' on ${settings.address} (namespace ${settings.namespace})`,
    );
  }
  try {
    await worker.run();
  } finally {
    health?.close();
    await connection.close();
  }
}

export const WORKER_LOG = () => homePath('worker.log');
