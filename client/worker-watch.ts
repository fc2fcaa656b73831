/**
 * A command that waits on a workflow waits on a worker. While it waits, this watch makes sure
 * one is there and says so when none is: on the embedded default it starts the background
 * worker again ("waiting for a worker: none is running; restarting it"); with an external
 * server it reports that no worker has polled SkyRun's task queue lately, and what to run.
 */
import type { Client } from '@temporalio/client';
import { ExitCode } from '../core/states';
import { TASK_QUEUE } from '../workflows/contract';
import { serverSettings } from '../worker/runtime/config';

/** A worker long-polls for about a minute; one not seen for longer than this is gone. */
const POLLER_FRESH_MS = 90_000;

export interface WorkerWatch {
  stop(): void;
}

/** Whether any worker polled SkyRun's workflow task queue within POLLER_FRESH_MS. */
export async function workerPolling(client: Client, namespace: string): Promise<boolean> {
  const res = await client.workflowService.describeTaskQueue({
    namespace,
    taskQueue: { name: TASK_QUEUE, kind: 1 /* NORMAL */ },
    taskQueueType: 1 /* WORKFLOW */,
  });
  const now = Date.now();
  return (res.pollers ?? []).some((p) => {
    const s = p.lastAccessTime?.seconds;
    return s != null && now - Number(s) * 1000 < POLLER_FRESH_MS;
  });
}

/**
 * Check every `everyMs` (first after `everyMs`): the timer is unref'd, so it never keeps the CLI
 * alive; a command that ends sooner never checks.
 */
export function watchWorker(client: Client, log: (m: string) => void, everyMs = 3000): WorkerWatch {
  const settings = serverSettings();
  let busy = false;
  let said = false;
  let missing = 0;
  const check = async () => {
    if (settings.embedded) {
      const embedded = await import('../worker/runtime/embedded');
      if ((await embedded.workerStatus()).running) return void (missing = 0);
      // its supervisor starts a dead worker again within a second or two: give it one round
      if (missing++ === 0 && embedded.supervisorRunning()) return;
      log('waiting for a worker: none is running; restarting it');
      await embedded.ensureWorker();
      log('a worker is running again');
      return;
    }
    // a server that does not answer this (permissions) leaves the wait as it was
    const polling = await workerPolling(client, settings.namespace).catch(() => true);
    if (!polling && !said) {
      log(
        `waiting for a worker: none has polled task queue '${TASK_QUEUE}' on ${settings.address} ` +
          `(namespace ${settings.namespace}) in the last ${POLLER_FRESH_MS / 1000} s; start one with 'skyrun worker'`,
      );
    } else if (polling && said) log('a worker is polling again');
    said = !polling;
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    check()
      .catch((e) => {
        // the workflow is durable: it goes on once a worker runs; this command cannot wait for one
        log(`the worker could not be started: ${(e as Error).message}`);
        process.exit(ExitCode.ERROR);
      })
      .finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
