/**
 * `sim` infra: a simulated cloud for tests and demos. Its regions, zones, instance types and
 * prices come from a catalog cloud (aws by default); capacity limits and faults come from
 * SKYRUN_HOME/sim.yaml (config.ts). Its instances live in SKYRUN_HOME/sim/state.json
 * (state.ts); each one is a local node folder that runs commands for real. Stopping an
 * on-demand cluster kills its processes and marks its instances `stopped` (their folders stay);
 * starting it marks the same instances `running` again. The sim is enabled when sim.yaml exists.
 */
import { promises as fsp } from 'node:fs';
import type { ClusterHandle } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { loadCatalog } from '../../catalog';
import { provisionCluster } from '../lifecycle';
import {
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
  spotStopRefusal,
} from '../provider';
import { DEFAULTS, maybeThrottled, readSimConfig, simConfigFile } from './config';
import { simLifecycle } from './provision';
import { type SimInstance, killNode, nodeRoot, readSimInstances, withState } from './state';

export { type SimConfig, readSimConfig, simConfigFile } from './config';
export { type SimInstance, readSimInstances, simStateFile } from './state';

export class SimProvider implements Provider {
  readonly name = 'sim';

  async check() {
    const cfg = readSimConfig();
    if (!cfg) return { enabled: false, reason: `no ${simConfigFile()} (it configures the simulated cloud)` };
    return { enabled: true };
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    const cfg = readSimConfig();
    if (!cfg) return [];
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'sim') return [];
    const catalog = await loadCatalog();
    return catalog.offers(cfg.catalog_cloud, r, numNodes, candidate, { asCloud: 'sim' });
  }

  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(simLifecycle, req, ctx);
  }

  /** Running and stopped instances, and preempted ones (with that reason). */
  async query(clusterName: string): Promise<InstanceState[]> {
    const view = (instances: SimInstance[]) =>
      instances
        .filter((i) => i.cluster === clusterName && (i.state !== 'terminated' || i.reason === 'preempted'))
        .map((i) => ({ instanceId: i.id, state: i.state, reason: i.reason }));
    // the common case reads without the lock (the file is replaced atomically); only a
    // preemption that is due for this cluster needs the locked path that carries it out
    const now = Date.now();
    const mine = readSimInstances().filter((i) => i.cluster === clusterName);
    if (!mine.some((i) => i.state === 'running' && i.preemptAt !== undefined && i.preemptAt <= now)) return view(mine);
    return withState((s) => view(s.instances));
  }

  async terminate(clusterName: string): Promise<void> {
    maybeThrottled(readSimConfig() ?? DEFAULTS);
    const gone = await withState(async (s) => {
      const ids: string[] = [];
      for (const i of s.instances) {
        if (i.cluster !== clusterName) continue;
        if (i.state !== 'terminated') {
          i.state = 'terminated';
          i.reason = 'terminated';
        }
        ids.push(i.id);
      }
      return ids;
    });
    for (const id of gone) {
      await killNode(id);
      await fsp.rm(nodeRoot(id), { recursive: true, force: true });
    }
    // verified: nothing of the cluster is left running or stopped
    const left = readSimInstances().filter((i) => i.cluster === clusterName && i.state !== 'terminated');
    if (left.length) throw new ProviderError('transient', `${left.length} instance(s) of ${clusterName} still there`);
  }

  stopRefusal(handle: ClusterHandle): string | undefined {
    return spotStopRefusal(handle);
  }

  /** Mark the cluster's running instances `stopped` and kill what ran on them; their folders stay. */
  async stop(handle: ClusterHandle): Promise<void> {
    const stopped = await withState((s) =>
      s.instances
        .filter((i) => i.cluster === handle.clusterName && i.state === 'running')
        .map((i) => {
          i.state = 'stopped';
          i.preemptAt = undefined;
          return i.id;
        }),
    );
    for (const id of stopped) await killNode(id);
  }

  /** The same instances `running` again (run_instances resumes them). */
  start(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(simLifecycle, restartRequest(handle), ctx);
  }
}
