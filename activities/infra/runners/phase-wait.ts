/**
 * A short blocking wait for a phase to end, built on the runners' phaseState: it checks the nodes
 * often at first (every 20 ms, backing off to 200 ms) and returns as soon as one rank has ended
 * what the workflow acts on: every rank has ended (done or lost), or one has failed (gang
 * semantics), or `maxMs` has passed. A short job's end so reaches the workflow at once instead
 * of after a poll interval.
 */
import type { PhaseState } from './runner';

/** Waits at most this long, whatever is asked: the activity's start-to-close timeout must hold. */
export const MAX_PHASE_WAIT_MS = 5000;

function ended(s: PhaseState): boolean {
  return s.state === 'done' || s.state === 'lost';
}

function failed(s: PhaseState): boolean {
  return s.state === 'lost' || (s.state === 'done' && s.exitCode !== 0);
}

export async function waitForPhaseEnd(
  states: () => Promise<PhaseState[]>,
  maxMs: number,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<PhaseState[]> {
  const end = Date.now() + Math.min(Math.max(0, maxMs), MAX_PHASE_WAIT_MS);
  for (let gap = 20; ; gap = Math.min(Math.round(gap * 1.5), 200)) {
    const now = await states();
    const left = end - Date.now();
    if (now.every(ended) || now.some(failed) || left <= 0) return now;
    await sleep(Math.min(gap, left));
  }
}
