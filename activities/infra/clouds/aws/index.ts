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
  type InstanceState,
  type Provider,
  type ProvisionContext,
  type ProvisionRequest,
  restartRequest,
  spotStopRefusal,
} from '../provider';
import { deleteSecurityGroup } from './bootstrap';
import { allRegions, defaultRegion, ec2, localCredentialSource } from './client';
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

export { awsError } from './errors';
export { securityGroupName } from './bootstrap';
export { clientToken } from './instances';
export { TAG_CLUSTER, TAG_NODE, TAG_OFFER } from './tags';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

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
    return catalogOffers('aws', r, numNodes, candidate);
  }

  provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    return provisionCluster(awsLifecycle, req, ctx);
  }

  /** The region(s) to look in: where this process last put the cluster, else every region. */
  private async regionsOf(cluster: string, opts: { all: boolean }): Promise<string[]> {
    const known = clusterRegion.get(cluster);
    if (known && !opts.all) return [known];
    return allRegions();
  }

  private async across<T>(
    cluster: string,
    opts: { all: boolean },
    fn: (region: string) => Promise<T[]>,
  ): Promise<Array<T & { region: string }>> {
    const regions = await this.regionsOf(cluster, opts);
    const per = await Promise.all(regions.map(async (region) => (await fn(region)).map((x) => ({ ...x, region }))));
    return per.flat();
  }

  async query(clusterName: string): Promise<InstanceState[]> {
    const found = await this.across(clusterName, { all: false }, (region) =>
      listInstances(region, clusterName, [...LIVE, 'shutting-down', 'terminated']),
    );
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

  /** Terminate every tagged instance (stopped ones too) in every region, verify, then delete the security group. */
  async terminate(clusterName: string): Promise<void> {
    const live = await this.across(clusterName, { all: true }, (region) =>
      listInstances(region, clusterName, [...LIVE, 'shutting-down']),
    );
    const regions = new Set(live.map((i) => i.region));
    for (const region of regions) {
      const inRegion = live.filter((i) => i.region === region && stateOf(i) !== 'shutting-down');
      await terminateInstances(region, idsOf(inRegion));
    }
    // verified: poll until nothing of the cluster is left but terminated instances
    const deadline = Date.now() + 10 * 60_000;
    for (const region of regions) {
      await pollInstances(
        region,
        clusterName,
        [...LIVE, 'shutting-down'],
        (is) => !is.length,
        'are still shutting down',
        sleep,
      );
    }
    const sgRegions = new Set([...regions, ...(await this.regionsOf(clusterName, { all: true }))]);
    await Promise.all([...sgRegions].map((region) => deleteSecurityGroup(region, clusterName, deadline)));
    clusterRegion.delete(clusterName);
  }

  stopRefusal(handle: ClusterHandle): string | undefined {
    return spotStopRefusal(handle);
  }

  /** Stop the cluster's instances (head last, as SkyPilot does) and wait until they are stopped; disks stay. */
  async stop(handle: ClusterHandle, ctx: ProvisionContext): Promise<void> {
    const region = handle.offer.region;
    clusterRegion.set(handle.clusterName, region);
    const live = await listInstances(region, handle.clusterName, ['pending', 'running']);
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
