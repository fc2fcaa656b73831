/**
 * The provisioning steps on EC2 (SkyPilot's sky/provision/aws/instance.py in spirit). A
 * cluster lives in one zone of one region: run_instances adopts what the tags say exists (waits
 * out `stopping`, starts `stopped`), creates only what is missing, and fails over between the
 * offer's zones on capacity errors.
 */
import type { ClusterHandle, NodeInfo } from '../../../../core/cluster';
import { vmImage } from '../../../../core/docker';
import { ProviderError } from '../../../../core/errors';
import type { InstanceLifecycle, Placement, ProvisionContext, ProvisionRequest } from '../provider';
import { ensureKeyPair, ensureSecurityGroup } from './bootstrap';
import { type Instance, zoneIdOf, zoneNames } from './client';
import { awsError } from './errors';
import { defaultImage } from './images';
import {
  LIVE,
  STATE_TIMEOUT_MS,
  createInstances,
  ensureHead,
  idsOf,
  listInstances,
  pollInstances,
  runnerSpec,
  startInstances,
  stateOf,
} from './instances';

export interface AwsBoot {
  /** the offer's zones, as this account names them */
  zones: string[];
  key: string;
  sg: string;
}

/** The region each cluster was last provisioned in (query's fast path; a scan otherwise). */
export const clusterRegion = new Map<string, string>();

/** The cluster's live instances once none is `stopping` (they cannot be started before). */
export function settled(region: string, cluster: string, ctx: ProvisionContext): Promise<Instance[]> {
  return pollInstances(
    region,
    cluster,
    LIVE,
    (is) => !is.some((i) => stateOf(i) === 'stopping'),
    'are still stopping',
    ctx.sleep,
  );
}

/** Create `missing` instances in the zone the cluster is in, else in the offer's zones in turn. */
async function createMissing(
  req: ProvisionRequest,
  boot: AwsBoot,
  existing: Instance[],
  missing: number,
  ctx: ProvisionContext,
): Promise<Instance[]> {
  const placed = existing[0]?.Placement?.AvailabilityZone;
  const tryZones = placed ? [placed] : boot.zones.length ? boot.zones : [''];
  // a docker image (docker mode) runs in a container on the default VM image
  const image = vmImage(req.imageId) ?? (await defaultImage(req.offer.region, req.offer));
  let last: ProviderError | undefined;
  for (const zone of tryZones) {
    try {
      return await createInstances(req, zone, missing, existing.length, { ...boot, image }, ctx);
    } catch (e) {
      last = awsError(e);
      if (last.errorClass !== 'capacity') throw last;
    }
  }
  throw last!;
}

/** A region that refuses a read call although check() passed: an organisation's policy denies it. */
function regionDenied(region: string, e: unknown): ProviderError {
  const err = awsError(e);
  if (err.code !== 'UnauthorizedOperation') return err;
  return new ProviderError('quota-region', `region ${region} is denied to these credentials: ${err.message}`, err.code);
}

export const awsLifecycle: InstanceLifecycle<AwsBoot> = {
  async bootstrap(req, ctx) {
    const { offer, clusterName: cluster } = req;
    clusterRegion.set(cluster, offer.region);
    const zones = await zoneNames(offer.region, offer.zones).catch((e) => {
      throw regionDenied(offer.region, e);
    });
    if (offer.zones.length && !zones.length) {
      throw new ProviderError(
        'config',
        `none of the zones ${offer.zones.join(', ')} exists in ${offer.region} for this account`,
      );
    }
    const key = await ensureKeyPair(offer.region);
    const sg = await ensureSecurityGroup(offer.region, cluster, req.ports ?? [], ctx.sleep);
    return { zones, key, sg };
  },

  async runInstances(req, boot, ctx): Promise<Placement> {
    const { offer, clusterName: cluster } = req;
    let existing = await settled(offer.region, cluster, ctx);
    const wrongType = existing.find((i) => i.InstanceType !== offer.instanceType);
    if (wrongType) {
      throw new ProviderError(
        'config',
        `cluster ${cluster} already has ${wrongType.InstanceType} instances in ${offer.region}; take it down first to use ${offer.instanceType}`,
      );
    }
    if (existing.length) ctx.heartbeat(idsOf(existing));
    await startInstances(offer.region, idsOf(existing.filter((i) => stateOf(i) === 'stopped')));
    const missing = offer.numNodes - existing.length;
    if (missing > 0) {
      existing = [...existing, ...(await createMissing(req, boot, existing, missing, ctx))];
      ctx.heartbeat(idsOf(existing));
    }
    return { zone: existing[0]?.Placement?.AvailabilityZone ?? '', instanceIds: idsOf(existing) };
  },

  /** Until the instances run_instances returned all run; one that dies meanwhile fails the attempt. */
  async waitInstances(req, placement, ctx) {
    const { offer, clusterName: cluster } = req;
    const ids = placement.instanceIds ?? [];
    await pollInstances(
      offer.region,
      cluster,
      [...LIVE, 'shutting-down', 'terminated'],
      (all) => {
        // only these ids: the tag also finds instances of an earlier launch (terminated ones stay listed for a while)
        const mine = all.filter((i) => ids.includes(i.InstanceId!));
        const gone = mine.find((i) => !LIVE.includes(stateOf(i)));
        if (gone) {
          const why = gone.StateReason?.Message;
          throw new ProviderError(
            'capacity',
            `instances of ${cluster} vanished while starting in ${offer.region}${why ? `: ${why}` : ''}`,
          );
        }
        // one not listed yet is still on its way (visible() saw it once)
        const running = mine.filter((i) => stateOf(i) === 'running');
        return running.length === ids.length && ids.length >= offer.numNodes;
      },
      `did not reach running in ${STATE_TIMEOUT_MS / 60_000} min`,
      ctx.sleep,
    );
  },

  async clusterInfo(req): Promise<ClusterHandle> {
    const { offer, clusterName: cluster } = req;
    const running = await listInstances(offer.region, cluster, ['running']);
    const nodes = await ensureHead(offer.region, cluster, running);
    const handleNodes: NodeInfo[] = nodes.map((i, rank) => ({
      rank,
      instanceId: i.InstanceId!,
      ip: i.PrivateIpAddress ?? i.PublicIpAddress ?? '',
      runner: runnerSpec(i, offer.region),
    }));
    const zone = nodes[0]?.Placement?.AvailabilityZone;
    const zoneId = zoneIdOf(offer.region, zone);
    return {
      clusterName: cluster,
      offer: zoneId ? { ...offer, zones: [zoneId] } : offer,
      zone: zoneId ?? zone,
      offerKey: req.offerKey,
      nodes: handleNodes,
    };
  },
};
