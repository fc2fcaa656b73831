/**
 * In-process workflow tests: a TestWorkflowEnvironment on the installed Temporal dev server (the
 * time-skipping test server is a separate download this machine cannot fetch, so timers are
 * kept short through workflow inputs), and one worker running the workflow bundle with
 * `createActivities` over the providers each test brings. SKYRUN_HOME is a temp folder.
 * SKYRUN_TEST_LOG_LEVEL=DEBUG shows the worker's log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../activities';
import type { Providers } from '../../activities/infra/clouds';
import { SA } from '../../workflows/contract';
import { findTemporalCli } from '../../worker/runtime/temporal-cli';
import { REPO } from './skyrun';

let runtimeInstalled = false;

export interface WorkflowTestEnv {
  env: TestWorkflowEnvironment;
  home: string;
  /** the task queue the env's worker serves */
  taskQueue: string;
  /** The providers the worker's activities use from now on (each test brings its own). */
  use(providers: Providers): void;
  dispose(): Promise<void>;
}

/**
 * Start a dev server and one worker (created once: loading the bundle takes seconds). Activities
 * come from createActivities over a Providers that forwards to the ones the test last `use`d.
 */
export async function createWorkflowTestEnv(opts: { suggestContinueAsNewAt?: number } = {}): Promise<WorkflowTestEnv> {
  if (!runtimeInstalled) {
    Runtime.install({
      logger: new DefaultLogger((process.env.SKYRUN_TEST_LOG_LEVEL as 'WARN' | undefined) ?? 'ERROR'),
    });
    runtimeInstalled = true;
  }
  const cli = findTemporalCli();
  if (!cli) throw new Error('no temporal CLI found (see worker/runtime/temporal-cli.ts)');
  const home = mkdtempSync(path.join(os.tmpdir(), 'skyrun-wf-'));
  const oldHome = process.env.SKYRUN_HOME;
  process.env.SKYRUN_HOME = home;
  // a developer's ~/.sky/config.yaml never leaks into tests (an absent file is no layer)
  process.env.SKYPILOT_CONFIG = path.join(home, 'sky-config.yaml');
  const extraArgs = opts.suggestContinueAsNewAt
    ? ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${opts.suggestContinueAsNewAt}`]
    : [];
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      searchAttributes: Object.values(SA),
      extraArgs,
    },
  });
  let current: Providers | undefined;
  const providers: Providers = {
    get: (cloud) => current!.get(cloud),
    all: () => current?.all() ?? [],
  };
  const taskQueue = `test-${process.pid}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: path.join(REPO, 'dist', 'workflow-bundle.js') },
    activities: createActivities({ providers }),
    stickyQueueScheduleToStartTimeout: '2s',
    maxHeartbeatThrottleInterval: '2s',
  });
  const running = worker.run();
  return {
    env,
    home,
    taskQueue,
    use(p) {
      current = p;
    },
    async dispose() {
      worker.shutdown();
      await running;
      await env.teardown();
      if (oldHome === undefined) delete process.env.SKYRUN_HOME;
      else process.env.SKYRUN_HOME = oldHome;
      rmSync(home, { recursive: true, force: true });
    },
  };
}

function durationMs(d: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return Number(d?.seconds ?? 0) * 1000 + Math.round((d?.nanos ?? 0) / 1e6);
}

/** The timers one run started, in order: duration (ms) and summary. */
export async function timersOf(h: WorkflowHandle): Promise<Array<{ ms: number; summary?: string }>> {
  const history = await h.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.timerStartedEventAttributes)
    .map((e) => {
      const s = e.userMetadata?.summary;
      return {
        ms: durationMs(e.timerStartedEventAttributes!.startToFireTimeout),
        summary: s ? defaultPayloadConverter.fromPayload<string>(s as never) : undefined,
      };
    });
}

/** The activities one run scheduled, in order: type and summary. */
export async function activitiesOf(h: WorkflowHandle): Promise<Array<{ type: string; summary?: string }>> {
  const history = await h.fetchHistory();
  return (history.events ?? [])
    .filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => {
      const s = e.userMetadata?.summary;
      return {
        type: e.activityTaskScheduledEventAttributes!.activityType?.name ?? '',
        summary: s ? defaultPayloadConverter.fromPayload<string>(s as never) : undefined,
      };
    });
}
