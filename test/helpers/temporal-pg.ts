/**
 * The real Temporal server on PostgreSQL (scripts/temporal-pg.ts, shared with the benches) and a
 * pool of `skyrun worker` processes connected to it through envconfig (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE), all sharing SkyRun's task queue and one SKYRUN_HOME.
 */
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@temporalio/client';
import { processAlive } from '../../activities/infra/runners/local';
import { startTemporalPg, stopTemporalPg, type TemporalPg } from '../../scripts/temporal-pg';
import { type RunResult, type SkyrunEnv, eventually, killAndWait } from './skyrun';

export { startTemporalPg, stopTemporalPg, type TemporalPg };

/** Points `sr`'s CLI (and the workers it spawns) at the server. */
export function useServer(sr: SkyrunEnv, pg: TemporalPg): void {
  sr.env.TEMPORAL_ADDRESS = pg.address;
  sr.env.TEMPORAL_NAMESPACE = pg.namespace;
}

type WorkerProc = ChildProcess & { result: Promise<RunResult> };

export class WorkerPool {
  readonly procs: WorkerProc[] = [];
  constructor(private readonly sr: SkyrunEnv) {}

  /** Starts one `skyrun worker` and waits until it polls. */
  async add(): Promise<WorkerProc> {
    const w = this.sr.spawn(['worker']);
    let out = '';
    w.stdout!.on('data', (d) => (out += d));
    let exited = false;
    void w.result.then(() => (exited = true));
    await eventually(() => {
      if (exited) throw new Error(`a skyrun worker exited before polling: ${out}`);
      return out.includes('SkyRun worker polling');
    });
    this.procs.push(w);
    return w;
  }

  alive(): WorkerProc[] {
    return this.procs.filter((w) => w.exitCode === null && w.signalCode === null);
  }

  async kill(pid: number): Promise<void> {
    await killAndWait(pid);
  }

  /** SIGTERM one worker and wait for it to exit; returns its exit code. */
  async stop(w: WorkerProc): Promise<number | null> {
    w.kill('SIGTERM');
    return (await w.result).code;
  }

  async stopAll(): Promise<void> {
    for (const w of this.alive()) {
      w.kill('SIGKILL');
      await w.result;
    }
  }
}

/** The pid in a worker identity (`pid@host`, the SDK's default). */
function pidOf(identity: string | null | undefined): number | undefined {
  const m = /^(\d+)@/.exec(identity ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The worker process working on a workflow right now: the one running its started activity of
 * `activityType` if given, else the one that completed its last workflow task (its sticky cache).
 */
export async function workingPid(client: Client, workflowId: string, activityType?: string): Promise<number> {
  return eventually(async () => {
    const d = await client.workflow.getHandle(workflowId).describe();
    if (activityType) {
      const a = (d.raw.pendingActivities ?? []).find(
        (p) => p.activityType?.name === activityType && p.lastWorkerIdentity && p.lastStartedTime,
      );
      const pid = pidOf(a?.lastWorkerIdentity);
      return pid && processAlive(pid) ? pid : undefined;
    }
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const completed = (history.events ?? []).filter((e) => e.workflowTaskCompletedEventAttributes);
    const pid = pidOf(completed[completed.length - 1]?.workflowTaskCompletedEventAttributes?.identity);
    return pid && processAlive(pid) ? pid : undefined;
  });
}
