/**
 * Running one phase (setup or run) of a job on every node of a cluster, shared by the cluster
 * and managed-job workflows: start it detached, then watch it with short status activities
 * behind a durable timer that backs off. A failing rank fails the gang (the others are killed).
 */
import { patched } from '@temporalio/workflow';
import type { PhaseState } from '../core/cluster';
import { type ClusterHandle, type JobRequest, nodesNotRunning } from '../core/cluster';
import { acts, statusActs, waitActs } from './proxies';

/** How long a cluster job's first look at a phase waits for it to end (waitPhase). */
const FIRST_LOOK_WAIT_MS = 2000;

export interface PhaseOutcome {
  exitCode?: number;
  /** the rank whose failure ended the phase */
  rank?: number;
  /** the process vanished without an exit code */
  lost?: boolean;
  /** nodes the infra no longer runs (preempted, or gone) */
  goneNodes?: string[];
}

export interface PhaseOptions {
  handle: ClusterHandle;
  jobId: number;
  phase: 'setup' | 'run';
  taskId: string;
  job: JobRequest;
  /** how activity summaries name the job: `job 3` */
  label: string;
  /** wait up to `ms`, returning early when something may have changed (a poke, a cancel) */
  wait: (ms: number) => Promise<void>;
  maxPollMs: number;
  /** also ask the infra whether the nodes still exist (managed jobs: preemption) */
  watchInstances?: boolean;
}

export async function runPhase(o: PhaseOptions): Promise<PhaseOutcome> {
  const { handle, jobId, phase, label } = o;
  await acts.startPhase.executeWithOptions({ summary: `${label}: start ${phase} on ${handle.nodes.length} node(s)` }, [
    { handle, jobId, phase, taskId: o.taskId, job: o.job },
  ]);
  let delay = 1000;
  let killed = false;
  let first: { rank: number; state: PhaseState } | undefined;
  // one activity per tick for the instances and the phase (two, in histories from before it)
  const combined = o.watchInstances && patched('watch-phase-in-one-activity');
  // a cluster job's first look waits on the nodes: a short phase's end arrives as it happens
  let waitFirst = !o.watchInstances && patched('phase-first-look-waits');
  for (;;) {
    let states: PhaseState[];
    if (waitFirst) {
      waitFirst = false;
      states = await waitActs.waitPhase.executeWithOptions({ summary: `${label}: wait for ${phase}` }, [
        { handle, jobId, phase, waitMs: FIRST_LOOK_WAIT_MS },
      ]);
    } else if (combined) {
      const w = await statusActs.watchPhase.executeWithOptions({ summary: `${label}: ${phase} and instances` }, [
        { handle, jobId, phase },
      ]);
      if (w.goneNodes.length) return { goneNodes: w.goneNodes };
      states = w.states;
    } else {
      if (o.watchInstances) {
        const gone = await nodesGone(handle, label);
        if (gone.length) return { goneNodes: gone };
      }
      states = await statusActs.phaseStatus.executeWithOptions({ summary: `${label}: ${phase} status` }, [
        { handle, jobId, phase },
      ]);
    }
    const failed = states.findIndex((s) => s.state === 'lost' || (s.state === 'done' && s.exitCode !== 0));
    // the rank that failed first is the job's failure, not the ranks we killed because of it
    if (failed >= 0 && first === undefined) first = { rank: failed, state: states[failed]! };
    const allDone = states.every((s) => s.state === 'done' || s.state === 'lost');
    if (allDone) {
      if (!first) return { exitCode: 0 };
      const s = first.state;
      return s.state === 'done' ? { exitCode: s.exitCode, rank: first.rank } : { rank: first.rank, lost: true };
    }
    if (failed >= 0 && !killed) {
      // gang semantics: one rank failed, so stop the others
      killed = true;
      await acts.cancelJob({ handle, jobId });
      continue;
    }
    await o.wait(delay);
    delay = Math.min(Math.round(delay * 1.5), o.maxPollMs);
  }
}

/** The cluster's nodes that the infra no longer runs. */
export async function nodesGone(handle: ClusterHandle, label: string): Promise<string[]> {
  const states = await statusActs.instanceStates.executeWithOptions({ summary: `${label}: instance states` }, [
    { cloud: handle.offer.cloud, clusterName: handle.clusterName, region: handle.offer.region },
  ]);
  return nodesNotRunning(handle, states);
}
