/**
 * `aws` infra: EC2 instances (SkyPilot's sky/provision/aws/instance.py in spirit). Tags are the
 * source of truth: every instance carries `skyrun-cluster`, `skyrun-offer-key` and
 * `skyrun-node=head|worker`; provision lists what the tags say exists and creates only what is
 * missing (with a ClientToken derived from the offer key), query/stop/start/terminate find
 * instances by tag. Per cluster: one security group `skyrun-<cluster>`; per account: one key
 * pair `skyrun-<hash of SkyRun's public key>`.
 *
 * Credentials come from the SDK's default chain (env, profile, SSO, instance role); the
 * endpoint honours AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL (tests point it at moto). The SDK
 * is loaded only when AWS is really used, so the CLI does not pay for it.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as EC2 from '@aws-sdk/client-ec2';
import type { ClusterHandle, NodeInfo, RunnerSpec } from '../../../core/cluster';
import { type ErrorClass, ProviderError } from '../../../core/errors';
import type { Offer } from '../../../core/offers';
import type { Resources } from '../../../core/task';
import { catalogOffers } from '../catalog';
import { cloudSettings, proxyCommandFor, settingsFile, skyrunSshKey } from '../settings';
import type { InstanceState, Provider, ProvisionContext, ProvisionRequest } from './provider';

export const TAG_CLUSTER = 'skyrun-cluster';
export const TAG_OFFER = 'skyrun-offer-key';
export const TAG_NODE = 'skyrun-node';

type Sdk = typeof EC2;
type Instance = EC2.Instance;
type SshSpec = Extract<RunnerSpec, { kind: 'ssh' }>;

const RUNNING_TIMEOUT_MS = 10 * 60_000;
const SSH_TIMEOUT_MS = 5 * 60_000;
const POLL_MS = 2_000;

/** Ubuntu 22.04 (amd64) AMIs, used only when DescribeImages finds none (e.g. an emulator). */
const FALLBACK_AMIS: Record<string, string> = {
  'us-east-1': 'ami-0c7217cdde317cfec',
  'us-east-2': 'ami-05fb0b8c1424f266b',
  'us-west-1': 'ami-0ce2cb35386fc22e9',
  'us-west-2': 'ami-008fe2fc65df48dac',
  'eu-central-1': 'ami-0faab6bdbac9486fb',
  'eu-west-1': 'ami-0905a3c97561e0b69',
};
const DEFAULT_AMI = 'ami-0c7217cdde317cfec';

// ---------------------------------------------------------------------------------------------
// Errors: one table, by the error's code (its `name` in SDK v3).

const ERROR_TABLE: Array<[RegExp, ErrorClass]> = [
  [
    /^(InsufficientInstanceCapacity|InsufficientCapacity|Unsupported|SpotMaxPriceTooLow|MaxSpotInstanceCountExceeded)$/,
    'capacity',
  ],
  [/^(VcpuLimitExceeded|InstanceLimitExceeded)$/, 'quota-region'],
  [
    /^(AuthFailure|UnauthorizedOperation|ExpiredToken|ExpiredTokenException|RequestExpired|InvalidClientTokenId|SignatureDoesNotMatch|CredentialsProviderError)$/,
    'auth',
  ],
  [
    /^(RequestLimitExceeded|Throttling|ThrottlingException|InternalError|InternalFailure|ServiceUnavailable|Unavailable|TimeoutError|ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN)$/,
    'transient',
  ],
  [
    /^(InvalidParameterValue|InvalidParameterCombination|InvalidAMIID\..*|InvalidInstanceType|MissingParameter)$/,
    'invalid',
  ],
  [/^(InvalidVpcID\.NotFound|InvalidSubnetID\.NotFound|InvalidGroup\.NotFound)$/, 'config'],
];

/** Never let an access key id reach a message. */
function redact(s: string): string {
  return s.replace(/\b(AKIA|ASIA)[A-Z0-9]{12,}\b/g, '<redacted>');
}

function codeOf(e: unknown): string {
  const err = e as { name?: string; Code?: string; code?: string; message?: string };
  if (err?.code && /^E[A-Z]+$/.test(err.code)) return err.code;
  if (/socket hang up/i.test(err?.message ?? '')) return 'ECONNRESET';
  return err?.Code ?? err?.name ?? 'Error';
}

/** The taxonomy class of an EC2 (or network) error, with one line that says why. */
export function awsError(e: unknown): ProviderError {
  if (e instanceof ProviderError) return e;
  const code = codeOf(e);
  const cls = ERROR_TABLE.find(([re]) => re.test(code))?.[1] ?? 'unknown';
  const msg = String((e as Error)?.message ?? e).split('\n')[0]!;
  return new ProviderError(cls, redact(msg.startsWith(code) ? msg : `${code}: ${msg}`), code);
}

/** `fn`, with its errors mapped to ProviderErrors. */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw awsError(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Clients and per-region lookups (cached in this process)

/** Whether to let the SDK ask the EC2 instance metadata service for a role's credentials. */
function useInstanceRole(): boolean {
  return cloudSettings('aws').use_instance_role === true || process.env.SKYRUN_AWS_INSTANCE_ROLE === '1';
}

/** A credential source this machine has without asking the network (the SDK's chain, minus IMDS). */
function localCredentialSource(): boolean {
  const env = process.env;
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE) return true;
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return true;
  const home = os.homedir();
  const files = [
    env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(home, '.aws', 'credentials'),
    env.AWS_CONFIG_FILE ?? path.join(home, '.aws', 'config'),
  ];
  return files.some((f) => existsSync(f)) || useInstanceRole();
}

let sdkPromise: Promise<Sdk> | undefined;
function sdk(): Promise<Sdk> {
  // its warning about Node versions of future SDK releases is noise on every CLI command
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // the instance metadata service only when asked for (aws.use_instance_role): elsewhere the
  // credential chain must not probe a link-local address on every command
  if (!useInstanceRole()) process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  return (sdkPromise ??= import('@aws-sdk/client-ec2'));
}

const clients = new Map<string, EC2.EC2Client>();
async function ec2(region: string): Promise<{ c: EC2.EC2Client; s: Sdk }> {
  const s = await sdk();
  let c = clients.get(region);
  if (!c) clients.set(region, (c = new s.EC2Client({ region })));
  return { c, s };
}

function defaultRegion(): string {
  return process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
}

/** The region each cluster was last provisioned in (query's fast path; a scan otherwise). */
const clusterRegion = new Map<string, string>();
const zoneNamesCache = new Map<string, Map<string, string>>();
let regionsCache: Promise<string[]> | undefined;

/** The catalog's AZ IDs (use1-az2) as this account's zone names (us-east-1c). */
async function zoneNames(region: string, zoneIds: string[]): Promise<string[]> {
  let byId = zoneNamesCache.get(region);
  if (!byId) {
    const { c, s } = await ec2(region);
    const r = await call(() => c.send(new s.DescribeAvailabilityZonesCommand({})));
    byId = new Map((r.AvailabilityZones ?? []).map((z) => [z.ZoneId!, z.ZoneName!]));
    zoneNamesCache.set(region, byId);
  }
  const names = new Set(byId.values());
  return zoneIds.map((z) => byId.get(z) ?? (names.has(z) ? z : '')).filter(Boolean);
}

async function allRegions(): Promise<string[]> {
  regionsCache ??= (async () => {
    const { c, s } = await ec2(defaultRegion());
    const r = await call(() => c.send(new s.DescribeRegionsCommand({})));
    return (r.Regions ?? []).map((x) => x.RegionName!).filter(Boolean);
  })();
  regionsCache.catch(() => (regionsCache = undefined));
  return regionsCache;
}

const hash = (s: string, n = 16) => createHash('sha256').update(s).digest('hex').slice(0, n);

// ---------------------------------------------------------------------------------------------
// Bootstrap: key pair, security group, image (all idempotent)

async function ensureKeyPair(region: string): Promise<string> {
  const { c, s } = await ec2(region);
  const publicKey = skyrunSshKey().publicKey;
  const name = `skyrun-${hash(publicKey)}`;
  try {
    await c.send(new s.ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: Buffer.from(publicKey) }));
  } catch (e) {
    if (codeOf(e) !== 'InvalidKeyPair.Duplicate') throw awsError(e);
  }
  return name;
}

export function securityGroupName(cluster: string): string {
  return `skyrun-${cluster}`;
}

async function findSecurityGroup(region: string, cluster: string): Promise<string | undefined> {
  const { c, s } = await ec2(region);
  const r = await call(() =>
    c.send(
      new s.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [securityGroupName(cluster)] }] }),
    ),
  );
  return r.SecurityGroups?.[0]?.GroupId;
}

async function ensureSecurityGroup(
  region: string,
  cluster: string,
  ports: Array<{ from: number; to: number }>,
): Promise<string> {
  const { c, s } = await ec2(region);
  let id = await findSecurityGroup(region, cluster);
  if (!id) {
    try {
      const r = await c.send(
        new s.CreateSecurityGroupCommand({
          GroupName: securityGroupName(cluster),
          Description: `SkyRun cluster ${cluster}`,
          TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: TAG_CLUSTER, Value: cluster }] }],
        }),
      );
      id = r.GroupId!;
    } catch (e) {
      if (codeOf(e) !== 'InvalidGroup.Duplicate') throw awsError(e);
      id = await findSecurityGroup(region, cluster);
      if (!id) throw awsError(e);
    }
  }
  for (const p of [{ from: 22, to: 22 }, ...ports]) {
    try {
      await c.send(
        new s.AuthorizeSecurityGroupIngressCommand({
          GroupId: id,
          IpPermissions: [{ IpProtocol: 'tcp', FromPort: p.from, ToPort: p.to, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
      );
    } catch (e) {
      if (codeOf(e) !== 'InvalidPermission.Duplicate') throw awsError(e);
    }
  }
  return id;
}

/** Graviton types (m6g, c7gn, t4g, a1, ...) need arm64 images. */
function isArm(instanceType: string): boolean {
  return /^(a1|[a-z]+\d+g[a-z]*)\./.test(instanceType);
}

const imageCache = new Map<string, string>();
/** The newest Ubuntu 22.04 image of the region (Canonical's), or the built-in table's. */
async function defaultImage(region: string, instanceType: string): Promise<string> {
  const arch = isArm(instanceType) ? 'arm64' : 'amd64';
  const key = `${region}/${arch}`;
  const cached = imageCache.get(key);
  if (cached) return cached;
  const { c, s } = await ec2(region);
  const r = await call(() =>
    c.send(
      new s.DescribeImagesCommand({
        Owners: ['099720109477'],
        Filters: [
          { Name: 'name', Values: [`ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-${arch}-server-*`] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    ),
  );
  const newest = (r.Images ?? []).sort((a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? ''))[0]
    ?.ImageId;
  const id = newest ?? FALLBACK_AMIS[region] ?? DEFAULT_AMI;
  imageCache.set(key, id);
  return id;
}

// ---------------------------------------------------------------------------------------------
// Instances by tag

const LIVE = ['pending', 'running', 'stopping', 'stopped'];

async function listInstances(region: string, cluster: string, states = LIVE): Promise<Instance[]> {
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

const tag = (i: Instance, key: string) => i.Tags?.find((t) => t.Key === key)?.Value;
const stateOf = (i: Instance) => i.State?.Name ?? 'pending';

/** Head first, then workers by launch index and id: ranks that do not change between calls. */
function ordered(instances: Instance[]): Instance[] {
  const isHead = (i: Instance) => (tag(i, TAG_NODE) === 'head' ? 0 : 1);
  return [...instances].sort((a, b) => isHead(a) - isHead(b) || (a.InstanceId ?? '').localeCompare(b.InstanceId ?? ''));
}

/** Exactly one head: keep the tagged one, or promote the first. */
async function ensureHead(region: string, cluster: string, instances: Instance[]): Promise<Instance[]> {
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

function isCapacity(e: ProviderError): boolean {
  return e.errorClass === 'capacity';
}

/** RunInstances in one zone; the token makes a repeated call return the same instances. */
async function runInstances(
  req: ProvisionRequest,
  zone: string,
  count: number,
  have: number,
  ids: { key: string; sg: string; image: string },
): Promise<Instance[]> {
  const { c, s } = await ec2(req.offer.region);
  const cluster = req.clusterName;
  const tags = [
    { Key: TAG_CLUSTER, Value: cluster },
    { Key: TAG_OFFER, Value: req.offerKey },
    { Key: TAG_NODE, Value: 'worker' },
    { Key: 'Name', Value: `${cluster}-worker` },
    ...Object.entries(req.labels ?? {}).map(([Key, Value]) => ({ Key, Value })),
  ];
  const r = await call(() =>
    c.send(
      new s.RunInstancesCommand({
        ImageId: ids.image,
        InstanceType: req.offer.instanceType as EC2._InstanceType,
        MinCount: count,
        MaxCount: count,
        KeyName: ids.key,
        SecurityGroupIds: [ids.sg],
        Placement: { AvailabilityZone: zone },
        ClientToken: clientToken(req.offerKey, zone, have),
        InstanceMarketOptions: req.offer.spot ? { MarketType: 'spot' } : undefined,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: [{ Key: TAG_CLUSTER, Value: cluster }] },
        ],
      }),
    ),
  );
  return r.Instances ?? [];
}

/** EC2's idempotency token: at most 64 characters, one per offer key, zone and adopted count. */
export function clientToken(offerKey: string, zone: string, have: number): string {
  return `skyrun-${hash(`${offerKey}|${zone}|${have}`, 40)}`;
}

// ---------------------------------------------------------------------------------------------
// The provider

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

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const { offer, clusterName: cluster } = req;
    const region = offer.region;
    clusterRegion.set(cluster, region);
    const zones = await zoneNames(region, offer.zones);
    if (offer.zones.length && !zones.length) {
      throw new ProviderError(
        'config',
        `none of the zones ${offer.zones.join(', ')} exists in ${region} for this account`,
      );
    }
    const key = await ensureKeyPair(region);
    const sg = await ensureSecurityGroup(region, cluster, req.ports ?? []);
    const image = req.imageId ?? (await defaultImage(region, offer.instanceType));

    // adopt what the tags say exists: wait out `stopping`, resume `stopped`, keep the rest
    let existing = await this.settle(region, cluster, ctx);
    const wrongType = existing.filter((i) => i.InstanceType !== offer.instanceType);
    if (wrongType.length) {
      throw new ProviderError(
        'config',
        `cluster ${cluster} already has ${wrongType[0]!.InstanceType} instances in ${region}; take it down first to use ${offer.instanceType}`,
      );
    }
    if (existing.length) ctx.heartbeat(existing.map((i) => i.InstanceId!));
    const stopped = existing.filter((i) => stateOf(i) === 'stopped').map((i) => i.InstanceId!);
    if (stopped.length) await this.startIds(region, stopped);

    const missing = offer.numNodes - existing.length;
    if (missing > 0) {
      // a cluster lives in one zone: where its nodes already are, else the offer's zones in turn
      const placed = existing[0]?.Placement?.AvailabilityZone;
      const tryZones = placed ? [placed] : zones.length ? zones : [''];
      let last: ProviderError | undefined;
      for (const zone of tryZones) {
        try {
          const created = await runInstances(req, zone, missing, existing.length, { key, sg, image });
          existing = [...existing, ...created];
          ctx.heartbeat(existing.map((i) => i.InstanceId!));
          last = undefined;
          break;
        } catch (e) {
          last = awsError(e);
          if (!isCapacity(last)) throw last;
        }
      }
      if (last) throw last;
    }
    const running = await this.waitRunning(region, cluster, offer.numNodes, ctx);
    const nodes = await ensureHead(region, cluster, running);
    const handleNodes: NodeInfo[] = nodes.map((i, rank) => ({
      rank,
      instanceId: i.InstanceId!,
      ip: i.PrivateIpAddress ?? i.PublicIpAddress ?? '',
      runner: runnerSpec(i, region),
    }));
    await Promise.all(handleNodes.map((n) => waitSsh(n.runner as SshSpec, ctx)));
    const zone = nodes[0]!.Placement?.AvailabilityZone;
    const zoneId = [...(zoneNamesCache.get(region)?.entries() ?? [])].find(([, name]) => name === zone)?.[0];
    return {
      clusterName: cluster,
      offer: zoneId ? { ...offer, zones: [zoneId] } : offer,
      zone: zoneId ?? zone,
      offerKey: req.offerKey,
      nodes: handleNodes,
    };
  }

  /** The cluster's live instances once none is `stopping` (they cannot be started before). */
  private async settle(region: string, cluster: string, ctx: ProvisionContext): Promise<Instance[]> {
    const deadline = Date.now() + RUNNING_TIMEOUT_MS;
    for (;;) {
      const live = await listInstances(region, cluster);
      if (!live.some((i) => stateOf(i) === 'stopping')) return live;
      if (Date.now() > deadline) throw new ProviderError('transient', `instances of ${cluster} are still stopping`);
      await ctx.sleep(POLL_MS);
    }
  }

  /** Poll until `count` instances of the cluster run; one that dies meanwhile fails the attempt. */
  private async waitRunning(
    region: string,
    cluster: string,
    count: number,
    ctx: ProvisionContext,
  ): Promise<Instance[]> {
    const deadline = Date.now() + RUNNING_TIMEOUT_MS;
    for (;;) {
      const all = await listInstances(region, cluster, [...LIVE, 'shutting-down', 'terminated']);
      const live = all.filter((i) => LIVE.includes(stateOf(i)));
      const running = live.filter((i) => stateOf(i) === 'running');
      if (running.length >= count && running.length === live.length) return running;
      if (live.length < count) {
        const gone = all.find((i) => !LIVE.includes(stateOf(i)) && i.StateReason?.Message);
        throw new ProviderError(
          'capacity',
          `instances of ${cluster} vanished while starting in ${region}${gone ? `: ${gone.StateReason!.Message}` : ''}`,
        );
      }
      if (Date.now() > deadline)
        throw new ProviderError(
          'transient',
          `instances of ${cluster} did not reach running in ${RUNNING_TIMEOUT_MS / 60_000} min`,
        );
      await ctx.sleep(POLL_MS);
    }
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

  /** Terminate every tagged instance in every region, verify, then delete the security group. */
  async terminate(clusterName: string): Promise<void> {
    const live = await this.across(clusterName, { all: true }, (region) =>
      listInstances(region, clusterName, [...LIVE, 'shutting-down']),
    );
    const regions = new Set(live.map((i) => i.region));
    for (const region of regions) {
      const ids = live.filter((i) => i.region === region && stateOf(i) !== 'shutting-down').map((i) => i.InstanceId!);
      if (!ids.length) continue;
      const { c, s } = await ec2(region);
      try {
        await c.send(new s.TerminateInstancesCommand({ InstanceIds: ids }));
      } catch (e) {
        if (codeOf(e) !== 'InvalidInstanceID.NotFound') throw awsError(e);
      }
    }
    // verified: poll until nothing of the cluster is left but terminated instances
    const deadline = Date.now() + 10 * 60_000;
    for (const region of regions) {
      while ((await listInstances(region, clusterName, [...LIVE, 'shutting-down'])).length) {
        if (Date.now() > deadline)
          throw new ProviderError('transient', `instances of ${clusterName} in ${region} are still shutting down`);
        await sleep(POLL_MS);
      }
    }
    const sgRegions = new Set([...regions, ...(await this.regionsOf(clusterName, { all: true }))]);
    await Promise.all([...sgRegions].map((region) => deleteSecurityGroup(region, clusterName, deadline)));
    clusterRegion.delete(clusterName);
  }

  /** Stop the cluster's instances (head last, as SkyPilot does); their disks stay. */
  async stop(clusterName: string): Promise<void> {
    const live = await this.across(clusterName, { all: true }, (region) =>
      listInstances(region, clusterName, ['pending', 'running']),
    );
    const regions = new Set(live.map((i) => i.region));
    for (const region of regions) {
      const inRegion = ordered(live.filter((i) => i.region === region)).reverse();
      const { c, s } = await ec2(region);
      await call(() => c.send(new s.StopInstancesCommand({ InstanceIds: inRegion.map((i) => i.InstanceId!) })));
    }
  }

  /** Start the cluster's stopped instances (waiting out `stopping` ones first). */
  async start(clusterName: string): Promise<void> {
    const ctx = { heartbeat: () => undefined, sleep, attemptId: '' };
    const regions = await this.regionsOf(clusterName, { all: false });
    for (const region of regions) {
      const live = await this.settle(region, clusterName, ctx);
      const stopped = live.filter((i) => stateOf(i) === 'stopped').map((i) => i.InstanceId!);
      if (stopped.length) await this.startIds(region, stopped);
    }
  }

  private async startIds(region: string, ids: string[]): Promise<void> {
    const { c, s } = await ec2(region);
    await call(() => c.send(new s.StartInstancesCommand({ InstanceIds: ids })));
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function deleteSecurityGroup(region: string, cluster: string, deadline: number): Promise<void> {
  const id = await findSecurityGroup(region, cluster);
  if (!id) return;
  const { c, s } = await ec2(region);
  for (;;) {
    try {
      await c.send(new s.DeleteSecurityGroupCommand({ GroupId: id }));
      return;
    } catch (e) {
      const code = codeOf(e);
      if (code === 'InvalidGroup.NotFound') return;
      // instances that are still shutting down hold on to the group
      if (code !== 'DependencyViolation' || Date.now() > deadline) throw awsError(e);
      await sleep(POLL_MS);
    }
  }
}

function runnerSpec(i: Instance, region: string): SshSpec {
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

/**
 * SSH answers once the instance has booted and cloud-init has installed the key: until then
 * connections are refused, time out, or (briefly) reject the key, so those are retried.
 */
async function waitSsh(spec: SshSpec, ctx: ProvisionContext): Promise<void> {
  const { SshRunner } = await import('../runners/ssh');
  const deadline = Date.now() + SSH_TIMEOUT_MS;
  for (;;) {
    try {
      const r = await new SshRunner(spec).exec(['true']);
      if (r.code === 0) return;
      throw new ProviderError('transient', `ssh ${spec.user}@${spec.host}: \`true\` exited ${r.code}`);
    } catch (e) {
      const err = e instanceof ProviderError ? e : new ProviderError('transient', String((e as Error)?.message ?? e));
      const retry = err.errorClass === 'transient' || err.errorClass === 'auth';
      if (!retry || Date.now() > deadline) throw err;
      await ctx.sleep(POLL_MS);
    }
  }
}
