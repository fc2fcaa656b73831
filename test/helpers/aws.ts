/** What the aws tests share: EC2 as moto sees it (without the proxy's rules) and the settings that reach the loopback sshd. */
import { TAG_CLUSTER, securityGroupName } from '../../activities/infra/clouds/aws';
import type { ProvisionContext, ProvisionRequest } from '../../activities/infra/clouds/provider';
import type { Offer } from '../../core/offers';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { skyrunSshKey } from '../../activities/infra/settings';
import { startMoto, type Moto } from './moto';
import { FIXTURES } from './sim';
import { sleep } from './skyrun';
import { startSshd, type FakeHost } from './sshd';

/**
 * Around a test file: moto, a private SKYRUN_HOME on the fixture catalog, and a loopback sshd its
 * config reaches; `ready` gets the moto once it runs. Everything stops and the env comes back after.
 */
export function useAwsTestEnv(prefix: string, ready: (moto: Moto) => void): void {
  let moto: Moto | undefined;
  let sshd: FakeHost | undefined;
  let home = '';
  const saved = { ...process.env };
  beforeAll(async () => {
    moto = await startMoto();
    ready(moto);
    home = mkdtempSync(path.join(os.tmpdir(), `skyrun-${prefix}-`));
    Object.assign(process.env, moto.env, {
      SKYRUN_HOME: home,
      SKYRUN_CATALOG_DIR: FIXTURES,
      SKYRUN_CONFIG: path.join(home, 'config.yaml'),
    });
    sshd = await startSshd({ clientKey: skyrunSshKey().privateKey });
    writeFileSync(process.env.SKYRUN_CONFIG!, settingsYaml(sshd));
  });
  afterAll(async () => {
    const { closeAllSsh } = await import('../../activities/infra/runners/ssh');
    await closeAllSsh();
    await sshd?.stop();
    await moto?.stop();
    process.env = saved;
    if (home) rmSync(home, { recursive: true, force: true });
  });
}

/** settings that send every SSH connection to the loopback sshd, whatever the instance's IP */
export function settingsYaml(h: FakeHost): string {
  const proxy = `bash -c 'exec 3<>/dev/tcp/${h.host}/${h.port}; cat <&3 & cat >&3'`;
  return `aws:\n  ssh_proxy_command: ${JSON.stringify(proxy)}\n  ssh_user: root\n`;
}

/** EC2 as moto sees it, without the proxy's injections. */
export async function motoEc2(moto: Moto, region = 'us-east-1') {
  const sdk = await import('@aws-sdk/client-ec2');
  const c = new sdk.EC2Client({ region, endpoint: moto.direct });
  return { c, sdk };
}

export async function instancesOf(
  moto: Moto,
  cluster: string,
  states = ['pending', 'running', 'stopping', 'stopped'],
  region = 'us-east-1',
) {
  const { c, sdk } = await motoEc2(moto, region);
  const r = await c.send(
    new sdk.DescribeInstancesCommand({
      Filters: [
        { Name: `tag:${TAG_CLUSTER}`, Values: [cluster] },
        { Name: 'instance-state-name', Values: states },
      ],
    }),
  );
  return (r.Reservations ?? []).flatMap((x) => x.Instances ?? []);
}

export async function securityGroups(moto: Moto, cluster: string, region = 'us-east-1') {
  const { c, sdk } = await motoEc2(moto, region);
  const r = await c.send(
    new sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [securityGroupName(cluster)] }] }),
  );
  return r.SecurityGroups ?? [];
}

export const tagOf = (i: { Tags?: { Key?: string; Value?: string }[] }, k: string) =>
  i.Tags?.find((t) => t.Key === k)?.Value;

/** A provision context whose waits are short; `attemptId` as one activity attempt would have it. */
export function providerCtx(attemptId = '', beats: string[][] = []): ProvisionContext {
  return {
    heartbeat: (ids) => beats.push(ids),
    sleep: (ms) => sleep(Math.min(ms, 200)).then(() => undefined),
    attemptId,
  };
}

/** A request for `cluster`: two m8i.large in us-east-1 (zones use1-az2, then use1-az4), unless `o` says otherwise. */
export function awsRequest(cluster: string, o: Partial<Offer> = {}): ProvisionRequest {
  return {
    clusterName: cluster,
    offerKey: `cluster/${cluster}#0`,
    labels: {},
    offer: {
      cloud: 'aws',
      region: 'us-east-1',
      zones: ['use1-az2', 'use1-az4'],
      instanceType: 'm8i.large',
      spot: false,
      hourlyPrice: 0.10584,
      numNodes: 2,
      vcpus: 2,
      memoryGiB: 8,
      candidate: 0,
      ...o,
    },
  };
}
