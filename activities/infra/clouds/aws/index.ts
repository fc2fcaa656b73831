/**
 * `aws` infra: EC2 instances. Tags are the source of truth: every instance carries
 * `skyrun-cluster`, `skyrun-offer-key` and `skyrun-node=head|worker`; provision (provision.ts)
 * lists what the tags say exists and creates only what is missing, query/stop/start/terminate
 * find instances by tag. Per cluster: one security group `skyrun-<cluster>`; per account: one
 * key pair (bootstrap.ts). Errors: errors.ts. On-demand clusters can be stopped (disks kept) and
 * started again with the same instances; their public IPs change, so start returns a new handle.
 */
import type { ClusterHandle } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { catalogOffers } from '../../catalog';
import { settingsFile } from '../../settings';
import { provisionCluster } from '../lifecycle';
import {
  type ClusterWhere,
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
  spotStopRefusal,
} from '../provider';
import { deleteSecurityGroup } from './bootstrap';
import { allRegions, allowedRegions, defaultRegion, ec2, localCredentialSource } from './client';
import { awsError, call } from './errors';
import {
  LIVE,
  idsOf,
  listInstances,
  ordered,
  pollInstances,
  stateOf,
  stopInstances,
  terminateInstances,
} from './instances';
import { awsLifecycle, clusterRegion } from './provision';

export { awsError, classOf } from './errors';
export { securityGroupName } from './bootstrap';
export { clientToken } from './instances';
export { TAG_CLUSTER, TAG_NODE, TAG_OFFER, TAG_REGION } from './tags';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The error for regions that could not be searched for the cluster's instances. */
function unchecked(
  cluster: string,
  failed: Array<{ region: string; error: ProviderError }>,
  meanwhile: string,
): ProviderError {
  const first = failed[0]!.error;
  const regions = failed.map((f) => f.region).join(', ');
  return new ProviderError(
    first.errorClass,
    `could not check ${regions} for instances of ${cluster} (${meanwhile}): ${first.message}` +
      (first.code === 'UnauthorizedOperation'
        ? ` (if your organisation denies these regions, list the ones SkyRun may use as aws.regions in ${settingsFile()})`
        : ''),
    first.code,
  );
}

export class AwsProvider implements Provider {
  readonly name = 'aws';
  private checked?: { at: number; result: { enabled: boolean; reason?: string } };

  async check(): Promise<{ enabled: boolean; reason?: string }> {
    if (this.checked && Date.now() - this.checked.at < 60_000) return this.checked.result;
    if (!localCredentialSource()) {
      return {
        enabled: false,
        reason:
          'no AWS credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE, ~/.aws/credentials or ~/.aws/config); ' +
          `on EC2 with an instance role, set aws: {use_instance_role: true} in ${settingsFile()}`,
      };
    }
    let result: { enabled: boolean; reason?: string };
    try {
      const { c, s } = await ec2(defaultRegion());
      try {
        await c.config.credentials();
      } catch (e) {
        throw new ProviderError(
          'auth',
          `no AWS credentials found (env, profile, SSO or instance role): ${String((e as Error).message).split('\n')[0]}`,
        );
      }
      await call(() => c.send(new s.DescribeAvailabilityZonesCommand({})));
      result = { enabled: true };
    } catch (e) {
      result = { enabled: false, reason: awsError(e).message };
    }
    this.checked = { at: Date.now(), result };
    return result;
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if (r.infra.cloud !== undefined && r.infra.cloud !== 'aws') return [];
    const allowed = allowedRegions();
    const offers = await catalogOffers('aws', r, numNodes, candidate);
    return allowed ? offers.filter((o) => allowed.includes(o.region)) : offers;
  }

  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(awsLifecycle, req, ctx);
  }

  /**
   * Each region's answer on its own: a region that refuses (an organisation's region-deny policy
   * answers UnauthorizedOperation there) does not hide what the others hold.
   */
  private async across<T>(
    regions: string[],
    fn: (region: string) => Promise<T[]>,
  ): Promise<{ found: Array<T & { region: string }>; failed: Array<{ region: string; error: ProviderError }> }> {
    const per = await Promise.allSettled(
      regions.map(async (region) => (await fn(region)).map((x) => ({ ...x, region }))),
    );
    const failed = per.flatMap((r, i) =>
      r.status === 'rejected' ? [{ region: regions[i]!, error: awsError(r.reason) }] : [],
    );
    return { found: per.flatMap((r) => (r.status === 'fulfilled' ? r.value : [])), failed };
  }

  /** Where to look: the region the caller knows (the handle's), else where this process last put it, else everywhere. */
  private async regionsOf(cluster: string, where?: ClusterWhere): Promise<string[]> {
    if (where?.regions?.length) return where.regions;
    const known = clusterRegion.get(cluster);
    return known ? [known] : allRegions();
  }

  async query(clusterName: string, where?: ClusterWhere): Promise<InstanceState[]> {
    const { found, failed } = await this.across(await this.regionsOf(clusterName, where), (region) =>
      listInstances(region, clusterName, [...LIVE, 'shutting-down', 'terminated']),
    );
    // a cluster lives in one region: found somewhere, the regions that did not answer do not matter
    if (!found.length && failed.length) throw unchecked(clusterName, failed, 'nothing found elsewhere');
    if (found.length && !clusterRegion.has(clusterName)) clusterRegion.set(clusterName, found[0]!.region);
    const out: InstanceState[] = [];
    for (const i of found) {
      const st = stateOf(i);
      const preempted = /Spot|spot/.test(i.StateReason?.Code ?? '') || /spot/i.test(i.StateReason?.Message ?? '');
      if (st === 'shutting-down' || st === 'terminated') {
        // a terminated instance matters only when the infra took it (spot preemption)
        if (preempted) out.push({ instanceId: i.InstanceId!, state: 'terminated', reason: 'preempted' });
        continue;
      }
      out.push({ instanceId: i.InstanceId!, state: st as InstanceState['state'] });
    }
    return out;
  }

  /**
   * Terminate every tagged instance (stopped ones too) in every region that answers, verify, delete
   * the security groups; then fail naming the regions that could not be checked (never "gone"
   * while a region may still hold instances).
   */
  async terminate(clusterName: string): Promise<void> {
    const regions = await allRegions();
    const { found: live, failed } = await this.across(regions, (region) =>
      listInstances(region, clusterName, [...LIVE, 'shutting-down']),
    );
    // each region on its own; verified: poll until nothing of the cluster is left but terminated instances
    const deadline = Date.now() + 10 * 60_000;
    const holding = [...new Set(live.map((i) => i.region))];
    const ended = await Promise.allSettled(
      holding.map(async (region) => {
        const inRegion = live.filter((i) => i.region === region && stateOf(i) !== 'shutting-down');
        await terminateInstances(region, idsOf(inRegion));
        await pollInstances(
          region,
          clusterName,
          [...LIVE, 'shutting-down'],
          (is) => !is.length,
          'are still shutting down',
          sleep,
        );
      }),
    );
    // the groups of regions searched and emptied (a group is held until its instances are gone)
    const stuck = holding.filter((_, i) => ended[i]!.status === 'rejected');
    const reachable = regions.filter((r) => !failed.some((f) => f.region === r) && !stuck.includes(r));
    const groups = await Promise.allSettled(
      reachable.map((region) => deleteSecurityGroup(region, clusterName, deadline)),
    );
    const notDone = [...ended, ...groups].find((g) => g.status === 'rejected');
    if (failed.length) throw unchecked(clusterName, failed, 'everything found elsewhere was terminated');
    if (notDone) throw awsError((notDone as PromiseRejectedResult).reason);
    clusterRegion.delete(clusterName);
  }

  stopRefusal(handle: ClusterHandle): string | undefined {
    return spotStopRefusal(handle);
  }

  /**
   * Stop the cluster's instances (head last, as SkyPilot does) and wait until they are stopped;
   * disks stay. EC2 cannot stop spot instances (UnsupportedOperation): refused before any call.
   */
  async stop(handle: ClusterHandle, ctx: ProvisionContext): Promise<void> {
    const region = handle.offer.region;
    clusterRegion.set(handle.clusterName, region);
    const refusal = this.stopRefusal(handle);
    if (refusal) throw new ProviderError('invalid', refusal);
    const live = await listInstances(region, handle.clusterName, ['pending', 'running']);
    const spot = live.find((i) => i.InstanceLifecycle === 'spot');
    if (spot) {
      throw new ProviderError('invalid', `Stopping spot instances is not supported on aws (${spot.InstanceId} is one)`);
    }
    await stopInstances(region, idsOf(ordered(live).reverse()));
    await pollInstances(
      region,
      handle.clusterName,
      LIVE,
      (is) => is.every((i) => stateOf(i) === 'stopped'),
      'did not stop',
      ctx.sleep,
    );
  }

  /** Start the stopped instances again (run_instances resumes them), wait for SSH; their new IPs. */
  start(handle: ClusterHandle, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(awsLifecycle, restartRequest(handle), ctx);
  }
}
