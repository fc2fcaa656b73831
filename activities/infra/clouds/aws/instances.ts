/**
 * EC2 instances by tag: list, order (head first), create (with a ClientToken per provision
 * attempt), start, stop, terminate, and wait for a state.
 */
import type * as EC2 from '@aws-sdk/client-ec2';
import type { RunnerSpec } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import { cloudSettings, proxyCommandFor, skyrunSshKey } from '../../settings';
import type { ProvisionContext, ProvisionRequest } from '../provider';
import { hash } from './bootstrap';
import { ec2, type Instance } from './client';
import { CONSISTENCY_MS, call, codeOf, awsError, retrying, unless } from './errors';
import { rootDeviceOf, rootVolume } from './images';
import { TAG_CLUSTER, TAG_NODE, TAG_OFFER, TAG_REGION } from './tags';

type SshSpec = Extract<RunnerSpec, { kind: 'ssh' }>;

export const POLL_MS = 2_000;
export const STATE_TIMEOUT_MS = 10 * 60_000;
export const LIVE = ['pending', 'running', 'stopping', 'stopped'];

export async function listInstances(region: string, cluster: string, states = LIVE): Promise<Instance[]> {
  const { c, s } = await ec2(region);
  const out: Instance[] = [];
  let NextToken: string | undefined;
  do {
    const r = await call(() =>
      c.send(
        new s.DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${TAG_CLUSTER}`, Values: [cluster] },
            { Name: 'instance-state-name', Values: states },
          ],
          NextToken,
        }),
      ),
    );
    for (const res of r.Reservations ?? []) out.push(...(res.Instances ?? []));
    NextToken = r.NextToken;
  } while (NextToken);
  return out;
}

export const tag = (i: Instance, key: string) => i.Tags?.find((t) => t.Key === key)?.Value;
export const stateOf = (i: Instance) => i.State?.Name ?? 'pending';
export const idsOf = (is: Instance[]) => is.map((i) => i.InstanceId!);

/** Head first, then workers by id: ranks that do not change between calls. */
export function ordered(instances: Instance[]): Instance[] {
  const isHead = (i: Instance) => (tag(i, TAG_NODE) === 'head' ? 0 : 1);
  return [...instances].sort((a, b) => isHead(a) - isHead(b) || (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''));
}

/** Exactly one head: keep the tagged one, or promote the first. */
export async function ensureHead(region: string, cluster: string, instances: Instance[]): Promise<Instance[]> {
  if (!instances.length) return instances;
  const [head, ...rest] = ordered(instances);
  const retag = async (i: Instance, role: 'head' | 'worker') => {
    if (tag(i, TAG_NODE) === role) return;
    const { c, s } = await ec2(region);
    const Tags = [
      { Key: TAG_NODE, Value: role },
      { Key: 'Name', Value: `${cluster}-${role}` },
    ];
    await call(() => c.send(new s.CreateTagsCommand({ Resources: [i.InstanceId!], Tags })));
    i.Tags = [...(i.Tags ?? []).filter((t) => t.Key !== TAG_NODE && t.Key !== 'Name'), ...Tags];
  };
  await retag(head!, 'head');
  for (const i of rest) await retag(i, 'worker'); // a second head (two racing attempts) steps down
  return [head!, ...rest];
}

/**
 * EC2's idempotency token (at most 64 characters). A repeated token returns the first call's
 * instances, even terminated ones, for at least 24 h, and fails with IdempotentParameterMismatch
 * when other parameters differ: so it is the same for every retry of one provision attempt (the
 * activity's run and id in `attemptId`) and new for the next attempt or launch.
 */
export function clientToken(offerKey: string, attemptId: string, zone: string, have: number): string {
  return `skyrun-${hash(`${offerKey}|${attemptId}|${zone}|${have}`, 40)}`;
}

/** RunInstances in one zone, then wait until EC2 lists what it made; the token makes a retried call return the same instances. */
export async function createInstances(
  req: ProvisionRequest,
  zone: string,
  count: number,
  have: number,
  ids: { key: string; sg: string; image: string },
  ctx: Pick<ProvisionContext, 'attemptId' | 'sleep'>,
): Promise<Instance[]> {
  const region = req.offer.region;
  const { c, s } = await ec2(region);
  const cluster = req.clusterName;
  const tags = [
    { Key: TAG_CLUSTER, Value: cluster },
    { Key: TAG_OFFER, Value: req.offerKey },
    { Key: TAG_REGION, Value: region },
    { Key: TAG_NODE, Value: 'worker' },
    { Key: 'Name', Value: `${cluster}-worker` },
    ...Object.entries(req.labels ?? {}).map(([Key, Value]) => ({ Key, Value })),
  ];
  const root = await rootDeviceOf(region, ids.image);
  const command = new s.RunInstancesCommand({
    ImageId: ids.image,
    InstanceType: req.offer.instanceType as EC2._InstanceType,
    MinCount: count,
    MaxCount: count,
    KeyName: ids.key,
    SecurityGroupIds: [ids.sg],
    Placement: { AvailabilityZone: zone },
    BlockDeviceMappings: [{ DeviceName: root, Ebs: rootVolume(req.diskSizeGb, req.diskTier) }],
    ClientToken: clientToken(req.offerKey, ctx.attemptId, zone, have),
    InstanceMarketOptions: req.offer.spot ? { MarketType: 'spot' } : undefined,
    TagSpecifications: [
      { ResourceType: 'instance', Tags: tags },
      {
        ResourceType: 'volume',
        Tags: [
          { Key: TAG_CLUSTER, Value: cluster },
          { Key: TAG_REGION, Value: region },
        ],
      },
    ],
  });
  // the security group (and key pair) made a moment ago may not be visible to RunInstances yet
  const r = await retrying(['InvalidGroup.NotFound', 'InvalidKeyPair.NotFound'], () => c.send(command), ctx.sleep);
  return visible(region, idsOf(r.Instances ?? []), ctx.sleep);
}

/**
 * The instances, once DescribeInstances lists every one of them: right after RunInstances it may
 * answer InvalidInstanceID.NotFound or leave some out (eventual consistency).
 */
export async function visible(
  region: string,
  ids: string[],
  sleep: (ms: number) => Promise<void>,
): Promise<Instance[]> {
  if (!ids.length) return [];
  const { c, s } = await ec2(region);
  const deadline = Date.now() + CONSISTENCY_MS;
  for (let wait = 500; ; wait = Math.min(wait * 2, 5_000)) {
    try {
      const r = await c.send(new s.DescribeInstancesCommand({ InstanceIds: ids }));
      const found = (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
      if (found.length >= ids.length) return found;
    } catch (e) {
      if (codeOf(e) !== 'InvalidInstanceID.NotFound') throw awsError(e);
    }
    if (Date.now() + wait > deadline) {
      throw new ProviderError(
        'transient',
        `instances ${ids.join(', ')} in ${region} were not listed within ${CONSISTENCY_MS / 1000} s of their creation`,
      );
    }
    await sleep(wait);
  }
}

export async function startInstances(region: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const { c, s } = await ec2(region);
  await call(() => c.send(new s.StartInstancesCommand({ InstanceIds: ids })));
}

export async function stopInstances(region: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const { c, s } = await ec2(region);
  await call(() => c.send(new s.StopInstancesCommand({ InstanceIds: ids })));
}

export async function terminateInstances(region: string, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const { c, s } = await ec2(region);
  await unless(['InvalidInstanceID.NotFound'], () => c.send(new s.TerminateInstancesCommand({ InstanceIds: ids })));
}

/**
 * Poll the cluster's instances (in `states`) until `done` says so; a ProviderError('transient')
 * saying `what` at the deadline. `done` may throw to end the wait early.
 */
export async function pollInstances(
  region: string,
  cluster: string,
  states: string[],
  done: (instances: Instance[]) => boolean,
  what: string,
  sleep: ProvisionContext['sleep'],
): Promise<Instance[]> {
  const deadline = Date.now() + STATE_TIMEOUT_MS;
  for (;;) {
    const found = await listInstances(region, cluster, states);
    if (done(found)) return found;
    if (Date.now() > deadline) throw new ProviderError('transient', `instances of ${cluster} in ${region} ${what}`);
    await sleep(POLL_MS);
  }
}

/** How to reach an instance: its public IP (else private), through the configured proxy command. */
export function runnerSpec(i: Instance, region: string): SshSpec {
  const host = i.PublicIpAddress ?? i.PrivateIpAddress;
  if (!host) throw new ProviderError('unknown', `instance ${i.InstanceId} has no IP address`);
  return {
    kind: 'ssh',
    host,
    port: 22,
    user: cloudSettings('aws').ssh_user ?? 'ubuntu',
    identityFile: skyrunSshKey().privateKey,
    proxyCommand: proxyCommandFor('aws', region),
  };
}
