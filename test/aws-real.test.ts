/**
 * The aws infra against EC2 as it really behaves: the moto proxy (helpers/moto-strict.ts) replays
 * a repeated ClientToken, denies a region as an organisation's policy would, and lets fresh
 * resources be "not found" for a while; moto knows Canonical's and AWS's images per region. SSH
 * readiness is checked on a real loopback sshd through `ssh_proxy_command`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { AwsProvider, TAG_REGION, awsError, clientToken } from '../activities/infra/clouds/aws';
import { rootVolume } from '../activities/infra/clouds/aws/images';
import { clusterRegion } from '../activities/infra/clouds/aws/provision';
import { ProviderError } from '../core/errors';
import type { Resources } from '../core/task';
import {
  awsRequest as request,
  instancesOf as instancesOfIn,
  motoEc2,
  providerCtx,
  securityGroups as securityGroupsIn,
  tagOf,
  useAwsTestEnv,
} from './helpers/aws';
import type { Moto } from './helpers/moto';

let moto: Moto;
useAwsTestEnv('aws-real', (m) => (moto = m));
const aws = new AwsProvider();
const ctx = providerCtx();
const instancesOf = (cluster: string, states?: string[], region?: string) =>
  instancesOfIn(moto, cluster, states, region);

afterEach(() => moto.clear());

/** The RunInstances requests since `from`. */
const runsSince = (from: number) => moto.requests.slice(from).filter((r) => r.action === 'RunInstances');

/** A zone of `region` as the catalog names it (its AZ ID). */
async function zoneIdIn(region: string): Promise<string> {
  const { c, sdk } = await motoEc2(moto, region);
  const r = await c.send(new sdk.DescribeAvailabilityZonesCommand({}));
  return r.AvailabilityZones![0]!.ZoneId!;
}

describe('ClientToken', () => {
  test('down, then a relaunch of the same cluster in the same zone gets new running instances', async () => {
    const req = request('again', { numNodes: 1 });
    const first = await aws.provision(req, providerCtx('run-1|1'));
    await aws.terminate('again');
    const from = moto.requests.length;
    // the next launch is another workflow run: another attempt, another token
    const second = await aws.provision(req, providerCtx('run-2|1'));
    expect(second.nodes[0]!.instanceId).not.toBe(first.nodes[0]!.instanceId);
    expect((await instancesOf('again')).map((i) => i.InstanceId)).toEqual([second.nodes[0]!.instanceId]);
    expect(runsSince(from).map((r) => r.injected)).toEqual([undefined]);
    await aws.terminate('again');
  });

  test('the token is the same for retries of one attempt and new for the next attempt', () => {
    const t = (attempt: string) => clientToken('cluster/c#0', attempt, 'us-east-1c', 0);
    expect(t('run-1|1')).toBe(t('run-1|1'));
    expect(t('run-1|1')).not.toBe(t('run-2|1'));
    expect(t('run-1|1').length).toBeLessThanOrEqual(64);
  });

  test('the proxy replays a repeated token and refuses it with other parameters (IdempotentParameterMismatch)', async () => {
    const sdk = await import('@aws-sdk/client-ec2');
    const c = new sdk.EC2Client({ region: 'us-east-1' });
    const run = (InstanceType: string) =>
      c.send(
        new sdk.RunInstancesCommand({
          ImageId: moto.amis[0]!.ami_id,
          InstanceType: InstanceType as never,
          MinCount: 1,
          MaxCount: 1,
          ClientToken: 'skyrun-proxy-rule',
        }),
      );
    const a = await run('m8i.large');
    const b = await run('m8i.large');
    expect(b.Instances![0]!.InstanceId).toBe(a.Instances![0]!.InstanceId);
    const e = await run('m8i.xlarge').catch((x) => x);
    expect(e.name).toBe('IdempotentParameterMismatch');
    expect(awsError(e).errorClass).toBe('unknown');
    await c.send(new sdk.TerminateInstancesCommand({ InstanceIds: [a.Instances![0]!.InstanceId!] }));
  });
});

describe('disks', () => {
  test('the root volume is gp3 on the image root device: 256 GB, medium tier by default; disk_size and disk_tier change it', async () => {
    const from = moto.requests.length;
    await aws.provision(request('disk0', { numNodes: 1 }), ctx);
    await aws.provision({ ...request('disk1', { numNodes: 1 }), diskSizeGb: 100, diskTier: 'high' }, ctx);
    const mapping = (r: { params: URLSearchParams }) =>
      Object.fromEntries([...r.params.entries()].filter(([k]) => k.startsWith('BlockDeviceMapping.')));
    const [d0, d1] = runsSince(from).map(mapping);
    expect(d0).toEqual({
      'BlockDeviceMapping.1.DeviceName': '/dev/sda1',
      'BlockDeviceMapping.1.Ebs.DeleteOnTermination': 'true',
      'BlockDeviceMapping.1.Ebs.VolumeSize': '256',
      'BlockDeviceMapping.1.Ebs.VolumeType': 'gp3',
      'BlockDeviceMapping.1.Ebs.Iops': '3500',
      'BlockDeviceMapping.1.Ebs.Throughput': '218',
    });
    expect(d1).toMatchObject({
      'BlockDeviceMapping.1.Ebs.VolumeSize': '100',
      'BlockDeviceMapping.1.Ebs.VolumeType': 'gp3',
      'BlockDeviceMapping.1.Ebs.Iops': '7000',
      'BlockDeviceMapping.1.Ebs.Throughput': '437',
    });
    // EC2 (moto) made the volume so
    const [i] = await instancesOf('disk1');
    const { c, sdk } = await motoEc2(moto);
    const vols = await c.send(
      new sdk.DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [i!.InstanceId!] }] }),
    );
    expect(vols.Volumes!.map((v) => [v.Size, v.VolumeType])).toEqual([[100, 'gp3']]);
    await Promise.all([aws.terminate('disk0'), aws.terminate('disk1')]);
  });

  test.each([
    ['low', { VolumeType: 'standard' }],
    ['medium', { VolumeType: 'gp3', Iops: 3500, Throughput: 218 }],
    ['high', { VolumeType: 'gp3', Iops: 7000, Throughput: 437 }],
    ['ultra', { VolumeType: 'io2', Iops: 20000 }],
    ['best', { VolumeType: 'io2', Iops: 20000 }],
  ] as const)('disk_tier %s is %j (as SkyPilot maps it)', (tier, want) => {
    expect(rootVolume(64, tier)).toEqual({ VolumeSize: 64, DeleteOnTermination: true, ...want });
  });
});

describe('images', () => {
  const imageOfLastRun = () =>
    moto.requests
      .filter((r) => r.action === 'RunInstances')
      .at(-1)!
      .params.get('ImageId');
  const ami = (name: RegExp) => moto.amis.find((a) => name.test(a.name))!.ami_id;

  test.each([
    ['m8i.large', 'Ubuntu 22.04 amd64', undefined, /ubuntu-jammy-22.04-amd64-server-2025/],
    ['m7g.large', 'Ubuntu 22.04 arm64', undefined, /ubuntu-jammy-22.04-arm64/],
    ['g5.xlarge', 'Deep Learning GPU', { name: 'A10G', count: 1 }, /^Deep Learning Base OSS Nvidia/],
    ['g5g.xlarge', 'Deep Learning ARM64 GPU', { name: 'T4g', count: 1 }, /^Deep Learning ARM64 Base OSS Nvidia/],
  ])('%s boots the newest %s image', async (instanceType, _what, accelerator, image) => {
    const name = `img-${instanceType.replace('.', '-')}`;
    await aws.provision(request(name, { numNodes: 1, instanceType, accelerator }), ctx);
    expect(imageOfLastRun()).toBe(ami(image));
    await aws.terminate(name);
  });

  test('images are looked up in the region the cluster goes to', async () => {
    const zone = await zoneIdIn('us-west-2');
    const from = moto.requests.length;
    await aws.provision(request('img-west', { numNodes: 1, region: 'us-west-2', zones: [zone] }), ctx);
    const looks = moto.requests.slice(from).filter((r) => r.action === 'DescribeImages');
    expect(looks.length).toBeGreaterThan(0);
    expect(new Set(looks.map((r) => r.region))).toEqual(new Set(['us-west-2']));
    expect(runsSince(from).map((r) => r.region)).toEqual(['us-west-2']);
    const [i] = await instancesOf('img-west', undefined, 'us-west-2');
    expect(tagOf(i!, TAG_REGION)).toBe('us-west-2');
    await aws.terminate('img-west');
  });

  test('an image the region does not have blocks the region, before anything is created', async () => {
    const from = moto.requests.length;
    const e = await aws
      .provision({ ...request('img-bad', { numNodes: 1 }), imageId: 'ami-0123456789abcdef0' }, ctx)
      .catch((x) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as ProviderError).errorClass).toBe('quota-region');
    expect(runsSince(from)).toEqual([]);
    await aws.terminate('img-bad');
  });
});

describe('a region denied by policy', () => {
  test('terminate terminates everything reachable, then fails naming the denied region', async () => {
    const h = await aws.provision(request('deny1', { numNodes: 1 }), ctx);
    moto.deny('eu-west-3');
    const e = await aws.terminate('deny1').catch((x) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as ProviderError).message).toContain('eu-west-3');
    expect((e as ProviderError).message).not.toContain('us-east-1,');
    expect(await instancesOf('deny1')).toEqual([]);
    expect((await instancesOf('deny1', ['terminated'])).map((i) => i.InstanceId)).toEqual([h.nodes[0]!.instanceId]);
    moto.clear();
    await aws.terminate('deny1'); // every region answers again: done
    expect(await securityGroupsIn(moto, 'deny1')).toEqual([]);
  });

  test('query finds the cluster despite a denied region; with the handle region it asks only there', async () => {
    await aws.provision(request('deny2', { numNodes: 1 }), ctx);
    clusterRegion.delete('deny2'); // as after a worker restart
    moto.deny('eu-west-3');
    expect((await aws.query('deny2')).map((s) => s.state)).toEqual(['running']);
    // found nowhere, with a region unchecked: not "gone"
    await expect(aws.query('deny-none')).rejects.toThrow(/eu-west-3/);
    clusterRegion.delete('deny2');
    const from = moto.requests.length;
    expect((await aws.query('deny2', { regions: ['us-east-1'] })).map((s) => s.state)).toEqual(['running']);
    expect(moto.requests.slice(from).map((r) => [r.action, r.region])).toEqual([['DescribeInstances', 'us-east-1']]);
    moto.clear();
    await aws.terminate('deny2');
  });

  test('provisioning in a denied region blocks that region only', async () => {
    const zone = await zoneIdIn('eu-west-3');
    moto.deny('eu-west-3');
    const e = await aws
      .provision(request('deny3', { numNodes: 1, region: 'eu-west-3', zones: [zone] }), ctx)
      .catch((x) => x);
    expect((e as ProviderError).errorClass).toBe('quota-region');
    expect((e as ProviderError).message).toContain('eu-west-3');
    moto.clear();
    await aws.terminate('deny3');
  });
});

describe('aws.regions (the regions an organisation allows)', () => {
  const withRegions = async (value: string, fn: () => Promise<void>) => {
    const file = process.env.SKYRUN_CONFIG!;
    const before = readFileSync(file, 'utf8');
    writeFileSync(file, `${before}  regions: ${value}\n`);
    try {
      await fn();
    } finally {
      writeFileSync(file, before);
    }
  };

  test('offers and searches stay in those regions: a teardown completes although another region is denied', () =>
    withRegions('[us-east-1, us-west-2]', async () => {
      const r: Resources = { infra: {}, useSpot: false, ports: [], labels: {}, instanceType: 'm8i.large' };
      expect(new Set((await aws.offers(r, 1, 0)).map((o) => o.region))).toEqual(new Set(['us-east-1', 'us-west-2']));
      await aws.provision(request('allow1', { numNodes: 1 }), ctx);
      moto.deny('eu-west-3');
      const from = moto.requests.length;
      await aws.terminate('allow1');
      expect(await instancesOf('allow1')).toEqual([]);
      expect(new Set(moto.requests.slice(from).map((q) => q.region))).toEqual(new Set(['us-east-1', 'us-west-2']));
    }));

  test('a bad value names the file and the field', () =>
    withRegions('us-east-1', async () => {
      const e = await aws.terminate('allow2').catch((x) => x);
      expect((e as ProviderError).errorClass).toBe('config');
      expect((e as ProviderError).message).toContain(`${process.env.SKYRUN_CONFIG}:`);
      expect((e as ProviderError).message).toMatch(/config\.yaml:\d+:\d+: aws\.regions: expected a list/);
    }));

  test('a teardown blocked by a denied region says how to tell SkyRun the allowed regions', async () => {
    moto.deny('eu-west-3');
    const e = await aws.terminate('allow3').catch((x) => x);
    expect((e as ProviderError).message).toMatch(/eu-west-3.*aws\.regions/);
  });
});

describe('eventual consistency', () => {
  test('a security group just created may be "not found" by AuthorizeSecurityGroupIngress and RunInstances for a while', async () => {
    moto.lag({ groupNotFound: 3 });
    moto.inject({ action: 'RunInstances', code: 'InvalidGroup.NotFound', times: 2 });
    const from = moto.requests.length;
    const h = await aws.provision(request('lag1', { numNodes: 1 }), ctx);
    expect(h.nodes).toHaveLength(1);
    const refused = moto.requests.slice(from).filter((r) => r.injected === 'InvalidGroup.NotFound');
    expect(refused.map((r) => r.action)).toEqual([
      'AuthorizeSecurityGroupIngress',
      'AuthorizeSecurityGroupIngress',
      'AuthorizeSecurityGroupIngress',
      'RunInstances',
      'RunInstances',
    ]);
    const [sg] = await securityGroupsIn(moto, 'lag1');
    expect(sg!.IpPermissions!.map((p) => p.IpProtocol).sort()).toEqual(['-1', 'tcp']);
    await aws.terminate('lag1');
  });

  test('instances RunInstances returned but DescribeInstances does not list yet are waited for, not "vanished"', async () => {
    moto.lag({ hiddenDescribes: 2 });
    const from = moto.requests.length;
    const h = await aws.provision(request('lag2'), ctx);
    expect(h.nodes).toHaveLength(2);
    expect(moto.requests.slice(from).some((r) => r.injected === 'InvalidInstanceID.NotFound')).toBe(true);
    expect(runsSince(from)).toHaveLength(1);
    await aws.terminate('lag2');
    expect(await instancesOf('lag2')).toEqual([]);
  });
});

describe('spot', () => {
  test('stopping spot instances is refused before any call to StopInstances', async () => {
    const h = await aws.provision(request('spot-stop', { numNodes: 1, spot: true }), ctx);
    const from = moto.requests.length;
    await expect(aws.stop(h, ctx)).rejects.toMatchObject({ errorClass: 'invalid' });
    // a handle that does not say spot: the instances do
    await expect(aws.stop({ ...h, offer: { ...h.offer, spot: false } }, ctx)).rejects.toThrow(
      /Stopping spot instances is not supported on aws/,
    );
    expect(moto.requests.slice(from).filter((r) => r.action === 'StopInstances')).toEqual([]);
    expect((await instancesOf('spot-stop')).map((i) => i.State?.Name)).toEqual(['running']);
    await aws.terminate('spot-stop');
  });
});
