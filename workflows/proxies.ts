/** The activities as the workflows call them, with their timeouts and retry policies in one place. */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/** Short side effects: start a phase, cancel a job, optimize. */
export const acts = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '20s' },
});

/** Status checks are short: a worker that dies during one is noticed within seconds. */
export const statusActs = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500ms', maximumInterval: '10s' },
});

/**
 * A short blocking wait on the nodes (waitPhase, a few seconds): it heartbeats every 250 ms, so
 * a worker killed during it is noticed within 2 s and the wait runs again elsewhere.
 */
export const waitActs = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  heartbeatTimeout: '2 seconds',
  retry: { initialInterval: '200ms', maximumInterval: '2s' },
});

/** Workdir sync can be long; it heartbeats. */
export const syncActs = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 },
});

/** Provisioning heartbeats; a cancel waits for the activity to stop before compensation runs. */
export const provisionActs = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '15 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 8 },
});

/** Teardown retries a few times per round; the caller keeps going round until it succeeds. */
export const teardownActs = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 },
});

/** Stopping and starting a cluster's nodes heartbeat; a cancel (a down during start) waits for the activity. */
export const stopStartActs = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '15 seconds',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 5 },
});
