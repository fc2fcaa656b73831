/**
 * The aws infra against a real EC2 emulator (moto's server, behind a proxy that injects EC2's
 * own error responses), with SSH readiness checked on a real loopback sshd reached through
 * `ssh_proxy_command`: first the provider itself, then end to end through the real CLI, dev
 * server and worker (including a worker killed mid-provision).
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { AwsProvider, TAG_NODE, TAG_OFFER, awsError, classOf, clientToken } from '../activities/infra/clouds/aws';
import { skyrunSshKey } from '../activities/infra/settings';
import { clusterEndpoints } from '../activities/infra/inspect';
import { ProviderError } from '../core/errors';
import {
  awsRequest as request,
  instancesOf as instancesOfIn,
  providerCtx,
  securityGroups as securityGroupsIn,
  settingsYaml,
  tagOf,
  useAwsTestEnv,
} from './helpers/aws';
import type { Moto } from './helpers/moto';
import { FIXTURES } from './helpers/sim';
import { SkyrunEnv, eventually } from './helpers/skyrun';
import { startSshd, type FakeHost } from './helpers/sshd';

let moto: Moto;
useAwsTestEnv('aws', (m) => (moto = m));
const instancesOf = (cluster: string, states?: string[]) => instancesOfIn(moto, cluster, states);
const securityGroups = (cluster: string) => securityGroupsIn(moto, cluster);

describe('provider', () => {
  const aws = new AwsProvider();
  const beats: string[][] = [];
  const ctx = providerCtx('', beats);

  afterEach(() => moto.clear());

  test('check: enabled with credentials', async () => {
    expect(await aws.check()).toEqual({ enabled: true });
  });

  test('provision creates tagged instances with a ClientToken; a retry adopts them', async () => {
    const req = request('p1');
    const from = moto.requests.length;
    const handle = await aws.provision(req, ctx);
    expect(handle.nodes.map((n) => n.rank)).toEqual([0, 1]);
    expect(handle.zone).toBe('use1-az2');
    const live = await instancesOf('p1');
    expect(live).toHaveLength(2);
    for (const i of live) {
      expect(tagOf(i, TAG_OFFER)).toBe(req.offerKey);
      expect(i.Placement?.AvailabilityZone).toBe('us-east-1c'); // moto's name for use1-az2
    }
    const head = live.find((i) => tagOf(i, TAG_NODE) === 'head')!;
    expect(head.InstanceId).toBe(handle.nodes[0]!.instanceId);
    expect(live.filter((i) => tagOf(i, TAG_NODE) === 'worker')).toHaveLength(1);
    expect(handle.nodes[0]!.runner).toMatchObject({ kind: 'ssh', user: 'root', port: 22 });
    expect(beats.at(-1)!.sort()).toEqual(live.map((i) => i.InstanceId!).sort());
    const runs = moto.requests.slice(from).filter((r) => r.action === 'RunInstances');
    expect(runs).toHaveLength(1);
    expect(runs[0]!.params.get('ClientToken')).toBe(clientToken(req.offerKey, '', 'us-east-1c', 0));
    expect(runs[0]!.params.get('ClientToken')!.length).toBeLessThanOrEqual(64);

    const again = await aws.provision(req, ctx);
    expect(again.nodes.map((n) => n.instanceId)).toEqual(handle.nodes.map((n) => n.instanceId));
    expect(await instancesOf('p1')).toHaveLength(2);
    expect(moto.requests.slice(from).filter((r) => r.action === 'RunInstances')).toHaveLength(1);
    expect((await aws.query('p1')).map((s) => s.state)).toEqual(['running', 'running']);
    await aws.terminate('p1');
  });

  test('stop, then start: the same instances, stopped then running; provision also resumes stopped nodes', async () => {
    const handle = await aws.provision(request('halt'), ctx);
    const ids = handle.nodes.map((n) => n.instanceId);
    expect(aws.stopRefusal(handle)).toBeUndefined();
    await aws.stop(handle, ctx);
    expect((await aws.query('halt')).map((s) => s.state)).toEqual(['stopped', 'stopped']);
    const stopped = await instancesOf('halt');
    expect(stopped.map((i) => i.State?.Name)).toEqual(['stopped', 'stopped']);
    const stops = moto.requests.filter((r) => r.action === 'StopInstances');
    // the head goes last, as SkyPilot does it
    expect([...stops.at(-1)!.params.entries()].filter(([k]) => k.startsWith('InstanceId')).map(([, v]) => v)).toEqual(
      [...ids].reverse(),
    );
    const from = moto.requests.length;
    const started = await aws.start(handle, ctx);
    expect(started.nodes.map((n) => n.instanceId)).toEqual(ids);
    expect(started.zone).toBe(handle.zone);
    expect((await instancesOf('halt')).map((i) => i.State?.Name)).toEqual(['running', 'running']);
    expect(moto.requests.slice(from).filter((r) => r.action === 'RunInstances')).toHaveLength(0);
    expect(moto.requests.slice(from).filter((r) => r.action === 'StartInstances')).toHaveLength(1);
    await aws.stop(handle, ctx);
    const h = await aws.provision(request('halt'), ctx);
    expect(h.nodes.map((n) => n.instanceId)).toEqual(ids);
    expect((await instancesOf('halt')).map((i) => i.State?.Name)).toEqual(['running', 'running']);
    await aws.terminate('halt');
  });

  test('terminate of a stopped cluster terminates its instances', async () => {
    const handle = await aws.provision(request('p2', { numNodes: 1 }), ctx);
    await aws.stop(handle, ctx);
    expect((await instancesOf('p2')).map((i) => i.State?.Name)).toEqual(['stopped']);
    await aws.terminate('p2');
    expect(await instancesOf('p2')).toEqual([]);
    expect((await instancesOf('p2', ['terminated'])).map((i) => i.InstanceId)).toEqual([handle.nodes[0]!.instanceId]);
  });

  test('terminate is verified and removes the security group', async () => {
    await aws.provision(request('p3'), ctx);
    expect(await securityGroups('p3')).toHaveLength(1);
    await aws.terminate('p3');
    expect(await instancesOf('p3')).toEqual([]);
    expect((await instancesOf('p3', ['terminated'])).length).toBe(2);
    expect(await securityGroups('p3')).toEqual([]);
    expect(await aws.query('p3')).toEqual([]);
    await aws.terminate('p3'); // gone is done
  });

  test('ports open security-group ingress rules; endpoints are the head node address', async () => {
    const ports = [
      { from: 8000, to: 8000 },
      { from: 9000, to: 9010 },
    ];
    const handle = await aws.provision({ ...request('pp', { numNodes: 1 }), ports }, ctx);
    const [sg] = await securityGroups('pp');
    const rules = (sg?.IpPermissions ?? [])
      .map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.IpRanges?.map((x) => x.CidrIp)])
      .sort((a, b) => Number(a[1] ?? -1) - Number(b[1] ?? -1));
    expect(rules).toEqual([
      ['-1', undefined, undefined, []],
      ['tcp', 22, 22, ['0.0.0.0/0']],
      ['tcp', 8000, 8000, ['0.0.0.0/0']],
      ['tcp', 9000, 9010, ['0.0.0.0/0']],
    ]);
    // the nodes talk to each other on any port (NCCL, torch.distributed on private IPs)
    const self = sg!.IpPermissions!.find((r) => r.IpProtocol === '-1')!;
    expect(self.UserIdGroupPairs?.map((p) => p.GroupId)).toEqual([sg!.GroupId]);
    const head = handle.nodes[0]!.runner;
    const host = head.kind === 'ssh' ? head.host : '';
    expect(await clusterEndpoints({ ...handle, ports }, 8000)).toEqual([{ port: 8000, address: `${host}:8000` }]);
    expect((await clusterEndpoints({ ...handle, ports })).map((e) => e.port)).toEqual([
      8000, 9000, 9001, 9002, 9003, 9004, 9005, 9006, 9007, 9008, 9009, 9010,
    ]);
    await aws.terminate('pp');
  });

  test('spot requests carry InstanceMarketOptions', async () => {
    const handle = await aws.provision(request('spot1', { spot: true, numNodes: 1 }), ctx);
    const run = moto.requests.filter((r) => r.action === 'RunInstances').at(-1)!;
    expect(run.params.get('InstanceMarketOptions.MarketType')).toBe('spot');
    const [i] = await instancesOf('spot1');
    expect(i!.InstanceLifecycle).toBe('spot');
    expect(aws.stopRefusal(handle)).toBe('Stopping spot instances is not supported on aws');
    await aws.terminate('spot1');
  });

  test('a capacity error in one zone moves on to the next zone', async () => {
    moto.inject({ action: 'RunInstances', zone: 'us-east-1c', code: 'InsufficientInstanceCapacity' });
    const h = await aws.provision(request('cap1', { numNodes: 1 }), ctx);
    expect(h.zone).toBe('use1-az4');
    const [i] = await instancesOf('cap1');
    expect(i!.Placement?.AvailabilityZone).toBe('us-east-1d');
    await aws.terminate('cap1');
  });

  test.each([
    ['InsufficientInstanceCapacity', 'capacity'],
    ['VcpuLimitExceeded', 'quota-region'],
    ['AuthFailure', 'auth'],
    ['RequestLimitExceeded', 'transient'],
  ])('%s from RunInstances is a %s error', async (code, cls) => {
    moto.inject({ action: 'RunInstances', code });
    const name = `err-${cls}`;
    const e = await aws.provision(request(name, { numNodes: 1 }), ctx).catch((x) => x);
    expect(e).toBeInstanceOf(ProviderError);
    expect((e as ProviderError).errorClass).toBe(cls);
    expect((e as ProviderError).message).toContain(code);
    expect((e as ProviderError).message).not.toContain('testing');
    moto.clear();
    await aws.terminate(name);
    expect(await instancesOf(name)).toEqual([]);
  });

  test.each([
    ['InsufficientInstanceCapacity', 'capacity'],
    ['Unsupported', 'capacity'],
    ['UnfulfillableCapacity', 'capacity'],
    ['InsufficientFreeAddressesInSubnet', 'capacity'],
    ['InstanceLimitExceeded', 'quota-region'],
    ['MaxSpotInstanceCountExceeded', 'quota-region'],
    ['InvalidAMIID.Malformed', 'quota-region'],
    ['InvalidAMIID.NotFound', 'quota-region'],
    ['OptInRequired', 'quota-region'],
    ['PendingVerification', 'quota-region'],
    ['VPCIdNotSpecified', 'quota-region'],
    ['ExpiredToken', 'auth'],
    ['UnauthorizedOperation', 'auth'],
    ['InternalError', 'transient'],
    ['InvalidKeyPair.NotFound', 'transient'],
    ['MissingInput', 'invalid'],
    ['InvalidParameterValue', 'invalid'],
    ['IdempotentParameterMismatch', 'unknown'],
    ['InvalidVpcID.NotFound', 'config'],
    ['SomethingNew', 'unknown'],
  ])('the error table: %s is %s', (code, cls) => {
    expect(awsError(Object.assign(new Error('x'), { name: code })).errorClass).toBe(cls);
    expect(classOf(code).cls).toBe(cls);
  });

  test('network errors are transient; no access key id reaches a message', () => {
    expect(awsError(Object.assign(new Error('x'), { name: 'Error', code: 'ECONNRESET' })).errorClass).toBe('transient');
    expect(
      awsError(Object.assign(new Error('key AKIAABCDEFGHIJKLMNOP is bad'), { name: 'AuthFailure' })).message,
    ).not.toContain('AKIA');
  });
});

describe('end to end: CLI, dev server, worker', () => {
  let sr: SkyrunEnv;
  let host: FakeHost;

  beforeAll(async () => {
    sr = await SkyrunEnv.create('aws');
    // the worker's SkyRun key, made now so that the loopback sshd can authorize it
    const ours = process.env.SKYRUN_HOME;
    process.env.SKYRUN_HOME = sr.home;
    const key = skyrunSshKey().privateKey;
    process.env.SKYRUN_HOME = ours;
    host = await startSshd({ clientKey: key });
    const config = path.join(sr.home, 'config.yaml');
    writeFileSync(config, settingsYaml(host));
    sr.env = { ...sr.env, ...moto.env, SKYRUN_CATALOG_DIR: FIXTURES, SKYRUN_CONFIG: config };
    expect((await sr.run(['server', 'start'])).code).toBe(0);
  });

  afterAll(async () => {
    await sr?.dispose();
    await host?.stop();
  });

  afterEach(() => moto.clear());
  // every fake instance is this one sshd: give each cluster a fresh node, as EC2 would
  beforeEach(() => {
    for (const f of readdirSync(host.home)) rmSync(path.join(host.home, f), { recursive: true, force: true });
  });

  test('launch runs on an EC2 instance (through the proxy command); down leaves nothing; a relaunch gets a new instance', async () => {
    const r = await sr.run([
      'launch',
      '-y',
      '-c',
      'awsc',
      '--infra',
      'aws/us-east-1',
      '--',
      'echo hi from $SKYPILOT_NODE_RANK',
    ]);
    expect(r.stdout).toContain('hi from 0');
    expect(r.code).toBe(0);
    const live = await instancesOf('awsc');
    expect(live).toHaveLength(1);
    expect(tagOf(live[0]!, TAG_NODE)).toBe('head');
    expect(tagOf(live[0]!, TAG_OFFER)).toMatch(/^cluster\/awsc#/);
    expect(await securityGroups('awsc')).toHaveLength(1);
    expect((await sr.run(['down', '-y', 'awsc'])).code).toBe(0);
    expect(await instancesOf('awsc')).toEqual([]);
    expect(await securityGroups('awsc')).toEqual([]);
    // launched again, same name and zone: another run, another ClientToken, a new instance
    for (const f of readdirSync(host.home)) rmSync(path.join(host.home, f), { recursive: true, force: true });
    const again = await sr.run(['launch', '-y', '-c', 'awsc', '--infra', 'aws/us-east-1', '--', 'echo again']);
    expect(again.stdout).toContain('again');
    expect(again.code).toBe(0);
    const relaunched = await instancesOf('awsc');
    expect(relaunched.map((i) => i.State?.Name)).toEqual(['running']);
    expect(relaunched[0]!.InstanceId).not.toBe(live[0]!.InstanceId);
    // in the same zone (before, the reused token answered with the terminated instance: the zone was blocked)
    expect(relaunched[0]!.Placement?.AvailabilityZone).toBe(live[0]!.Placement?.AvailabilityZone);
    expect((await sr.run(['down', '-y', 'awsc'])).code).toBe(0);
    expect(await instancesOf('awsc')).toEqual([]);
  });

  test('worker SIGKILL after RunInstances: the retried provision adopts, no duplicate, down leaves none', async () => {
    // every DescribeInstances is slow, so the kill lands while the worker waits for `running`
    moto.inject({ action: 'DescribeInstances', delayMs: 1500 });
    const from = moto.requests.length;
    const ranFor = (cluster: string) =>
      moto.requests.slice(from).some((q) => q.action === 'RunInstances' && [...q.params.values()].includes(cluster));
    expect(
      (await sr.run(['launch', '-y', '-d', '-c', 'awsk', '--infra', 'aws/us-east-1', '--', 'echo survived'])).code,
    ).toBe(0);
    await eventually(() => ranFor('awsk'), 90_000);
    const pid = await sr.killWorker();
    moto.clear();
    expect(await instancesOf('awsk')).toHaveLength(1);
    // the next command brings a new worker up; the provision activity is retried there
    await eventually(async () => /^1\s.*SUCCEEDED$/m.test((await sr.run(['queue', 'awsk'])).stdout), 120_000);
    expect(sr.workerPid()).not.toBe(pid);
    expect(await instancesOf('awsk')).toHaveLength(1);
    expect(moto.requests.slice(from).filter((q) => q.action === 'RunInstances')).toHaveLength(1);
    const logs = await sr.run(['logs', 'awsk', '1']);
    expect(logs.stdout).toContain('survived');
    expect((await sr.run(['down', '-y', 'awsk'])).code).toBe(0);
    expect(await instancesOf('awsk')).toEqual([]);
    expect(await securityGroups('awsk')).toEqual([]);
  });
});
