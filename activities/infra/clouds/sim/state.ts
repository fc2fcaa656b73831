/**
 * The sim's "cloud": its instances in SKYRUN_HOME/sim/state.json, outside any worker (a killed
 * worker cannot hide a leak), changed only under a lock folder. Each instance is a local node
 * folder (its disk) that runs commands for real; stopping one kills its processes and keeps the
 * folder, terminating one removes it.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { skyrunHome } from '../../home';
import { LocalRunner } from '../../runners/local';

export interface SimInstance {
  id: string;
  cluster: string;
  offerKey: string;
  /** idempotency token: `${offerKey}:${rank}` */
  token: string;
  rank: number;
  region: string;
  zone: string;
  instanceType: string;
  spot: boolean;
  state: 'running' | 'stopped' | 'terminated';
  reason?: string;
  createdAt: number;
  preemptAt?: number;
}

export interface SimState {
  seq: number;
  instances: SimInstance[];
  /** provision calls so far (for transient_failures) */
  calls?: number;
}

export function simStateFile(home = skyrunHome()): string {
  return path.join(home, 'sim', 'state.json');
}

/** The sim's instances as its "cloud console" shows them (tests count leaks with this). */
export function readSimInstances(home = skyrunHome()): SimInstance[] {
  try {
    return (JSON.parse(readFileSync(simStateFile(home), 'utf8')) as SimState).instances;
  } catch {
    return [];
  }
}

/** An instance's node folder (its disk). */
export function nodeRoot(id: string): string {
  return path.join(skyrunHome(), 'sim', 'nodes', id);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Serialise every state change through a lock folder; a holder that died is broken after 10 s. */
export async function withState<T>(fn: (s: SimState) => Promise<T> | T): Promise<T> {
  const file = simStateFile();
  const lock = file + '.lock';
  await fsp.mkdir(path.dirname(file), { recursive: true });
  for (;;) {
    try {
      await fsp.mkdir(lock);
      break;
    } catch {
      const st = await fsp.stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 10_000) await fsp.rm(lock, { recursive: true, force: true });
      await sleep(5 + Math.random() * 20);
    }
  }
  try {
    let state: SimState;
    try {
      state = JSON.parse(await fsp.readFile(file, 'utf8')) as SimState;
    } catch {
      state = { seq: 0, instances: [] };
    }
    await preempt(state);
    const out = await fn(state);
    await fsp.writeFile(file + '.tmp', JSON.stringify(state));
    await fsp.rename(file + '.tmp', file);
    return out;
  } finally {
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

/** Running spot instances past their preemption time vanish, with whatever ran on them. */
async function preempt(state: SimState): Promise<void> {
  const now = Date.now();
  for (const i of state.instances) {
    if (i.state === 'running' && i.preemptAt !== undefined && i.preemptAt <= now) {
      i.state = 'terminated';
      i.reason = 'preempted';
      await killNode(i.id);
    }
  }
}

/** Kill every process on the instance's node. */
export async function killNode(id: string): Promise<void> {
  await new LocalRunner(nodeRoot(id)).killAll();
}
