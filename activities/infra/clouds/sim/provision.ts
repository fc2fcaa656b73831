/**
 * The provisioning steps of the sim, with the faults its config injects: bootstrap fails the
 * way a cloud's account would (auth, quota, invalid requests, throttling); run_instances walks
 * the offer's zones, adopts the cluster's instances of this offer key (starting stopped ones)
 * and creates only the missing ranks, unless the zone has no capacity.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ClusterHandle, NodeInfo } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { InstanceLifecycle, Placement, ProvisionRequest } from '../provider';
import { type SimConfig, matchesPlace, maybeThrottled, readSimConfig, simConfigFile } from './config';
import { type SimInstance, type SimState, nodeRoot, readSimInstances, withState } from './state';

/** The config's account-wide faults (checked before anything is created). */
async function accountFaults(cfg: SimConfig, req: ProvisionRequest): Promise<void> {
  maybeThrottled(cfg);
  if (cfg.auth_error) {
    throw new ProviderError(
      'auth',
      'AuthFailure: AWS was not able to validate the provided access credentials',
      'AuthFailure',
    );
  }
  if (cfg.transient_failures > 0) {
    const call = await withState((s) => (s.calls = (s.calls ?? 0) + 1));
    if (call <= cfg.transient_failures) {
      throw new ProviderError(
        'transient',
        `RequestLimitExceeded: Request limit exceeded (call ${call}).`,
        'RequestLimitExceeded',
      );
    }
  }
  const { offer } = req;
  if (cfg.invalid_error) {
    throw new ProviderError(
      'invalid',
      `InvalidParameterValue: instance type ${offer.instanceType} is not valid for this image`,
      'InvalidParameterValue',
    );
  }
  if (cfg.cloud_quota_error) {
    throw new ProviderError('quota-cloud', "QUOTA_EXCEEDED: Quota 'GPUS_ALL_REGIONS' exceeded.", 'QUOTA_EXCEEDED');
  }
  if (cfg.quota_errors.includes(offer.region)) {
    throw new ProviderError(
      'quota-region',
      `VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit allows in ${offer.region}.`,
      'VcpuLimitExceeded',
    );
  }
}

/** The cluster's instances of this offer key that are not terminated. */
function mine(instances: SimInstance[], req: ProvisionRequest): SimInstance[] {
  return instances.filter(
    (i) => i.state !== 'terminated' && i.cluster === req.clusterName && i.offerKey === req.offerKey,
  );
}

/** In the locked state: start stopped ranks, create missing ones; false when the zone is full. */
function allocate(s: SimState, req: ProvisionRequest, cfg: SimConfig, zone: string): boolean {
  const { offer } = req;
  const preempted = s.instances.filter((i) => i.cluster === req.clusterName && i.reason === 'preempted').length;
  const preemptLeft = cfg.max_preemptions === null ? Infinity : cfg.max_preemptions - preempted;
  const have = mine(s.instances, req);
  const missing = offer.numNodes - have.length;
  const limit = cfg.zone_limits[`${offer.region}/${zone}`];
  const live = s.instances.filter((i) => i.state === 'running' && i.region === offer.region && i.zone === zone).length;
  if (missing > 0 && limit !== undefined && live + missing > limit) return false;
  for (const i of have) i.state = 'running';
  const ranks = new Set(have.map((i) => i.rank));
  for (let rank = 0; rank < offer.numNodes; rank++) {
    if (ranks.has(rank)) continue;
    const now = Date.now();
    s.instances.push({
      id: `i-${(++s.seq).toString(16).padStart(8, '0')}`,
      cluster: req.clusterName,
      offerKey: req.offerKey,
      token: `${req.offerKey}:${rank}`,
      rank,
      region: offer.region,
      zone,
      instanceType: offer.instanceType,
      spot: offer.spot,
      state: 'running',
      createdAt: now,
      preemptAt:
        offer.spot && cfg.preempt_after_ms !== null && preemptLeft > 0 ? now + cfg.preempt_after_ms : undefined,
    });
  }
  return true;
}

function config(): SimConfig {
  const cfg = readSimConfig();
  if (!cfg) throw new ProviderError('config', `the sim infra is not configured (${simConfigFile()})`);
  return cfg;
}

export const simLifecycle: InstanceLifecycle<SimConfig> = {
  async bootstrap(req) {
    const cfg = config();
    await accountFaults(cfg, req);
    return cfg;
  },

  async runInstances(req, cfg, ctx): Promise<Placement> {
    const { offer } = req;
    const capacity = (why: string) =>
      new ProviderError('capacity', `InsufficientInstanceCapacity: ${why}`, 'InsufficientInstanceCapacity');
    let lastError: ProviderError | undefined;
    for (const zone of offer.zones.length ? offer.zones : [offer.region]) {
      if (cfg.unknown_error_zones.includes(`${offer.region}/${zone}`)) {
        throw new Error(`sim: the zone ${zone} answered something nobody understands`);
      }
      if (matchesPlace(cfg.capacity_errors, offer.region, zone)) {
        lastError = capacity(
          `We currently do not have sufficient ${offer.instanceType} capacity in the Availability Zone you requested (${zone}).`,
        );
        continue;
      }
      const ids = await withState((s) =>
        allocate(s, req, cfg, zone) ? mine(s.instances, req).map((i) => i.id) : undefined,
      );
      if (ids) {
        ctx.heartbeat(ids);
        return { zone };
      }
      lastError = capacity(`zone ${zone} is at its limit of ${cfg.zone_limits[`${offer.region}/${zone}`]} instances.`);
    }
    throw lastError!;
  },

  /** The config's creation delay; an instance that vanished meanwhile (preempted, torn down) fails the attempt. */
  async waitInstances(req, { zone }, ctx) {
    const cfg = config();
    if (cfg.create_delay_ms > 0) await ctx.sleep(cfg.create_delay_ms);
    // a due preemption happens under the lock
    const now = Date.now();
    const due = mine(readSimInstances(), req).some((i) => i.preemptAt !== undefined && i.preemptAt <= now);
    const instances = due ? await withState((s) => s.instances) : readSimInstances();
    if (mine(instances, req).filter((i) => i.state === 'running').length < req.offer.numNodes) {
      throw new ProviderError('capacity', `instances of ${req.clusterName} vanished while starting in ${zone}`);
    }
  },

  async clusterInfo(req, { zone }): Promise<ClusterHandle> {
    const running = mine(readSimInstances(), req)
      .filter((i) => i.state === 'running')
      .sort((a, b) => a.rank - b.rank);
    const nodes: NodeInfo[] = [];
    for (const [rank, i] of running.entries()) {
      const root = nodeRoot(i.id);
      await fsp.mkdir(path.join(root, 'sky_workdir'), { recursive: true });
      nodes.push({ rank, instanceId: i.id, ip: '127.0.0.1', runner: { kind: 'local', root } });
    }
    const { offer } = req;
    return { clusterName: req.clusterName, offer: { ...offer, zones: [zone] }, zone, offerKey: req.offerKey, nodes };
  },
};
