/**
 * Per-account and per-cluster resources, all idempotent: one key pair
 * `skyrun-<hash of SkyRun's public key>` per account and region, one security group
 * `skyrun-<cluster>` per cluster in the region's default VPC: SSH and the task's ports from
 * anywhere, and all traffic between the cluster's nodes (a rule naming the group itself, as
 * SkyPilot adds, for NCCL, torch.distributed and the like on private IPs).
 */
import { createHash } from 'node:crypto';
import type * as EC2 from '@aws-sdk/client-ec2';
import { skyrunSshKey } from '../../settings';
import { ec2 } from './client';
import { awsError, call, codeOf, retrying, unless } from './errors';
import { TAG_CLUSTER, TAG_REGION } from './tags';

export const hash = (s: string, n = 16) => createHash('sha256').update(s).digest('hex').slice(0, n);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function ensureKeyPair(region: string): Promise<string> {
  const { c, s } = await ec2(region);
  const publicKey = skyrunSshKey().publicKey;
  const name = `skyrun-${hash(publicKey)}`;
  await unless(['InvalidKeyPair.Duplicate'], () =>
    c.send(new s.ImportKeyPairCommand({ KeyName: name, PublicKeyMaterial: Buffer.from(publicKey) })),
  );
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

async function createSecurityGroup(region: string, cluster: string): Promise<string> {
  const { c, s } = await ec2(region);
  try {
    const r = await c.send(
      new s.CreateSecurityGroupCommand({
        GroupName: securityGroupName(cluster),
        Description: `SkyRun cluster ${cluster}`,
        TagSpecifications: [
          {
            ResourceType: 'security-group',
            Tags: [
              { Key: TAG_CLUSTER, Value: cluster },
              { Key: TAG_REGION, Value: region },
            ],
          },
        ],
      }),
    );
    return r.GroupId!;
  } catch (e) {
    if (codeOf(e) !== 'InvalidGroup.Duplicate') throw awsError(e);
    const id = await findSecurityGroup(region, cluster);
    if (!id) throw awsError(e);
    return id;
  }
}

export async function ensureSecurityGroup(
  region: string,
  cluster: string,
  ports: Array<{ from: number; to: number }>,
  sleep: (ms: number) => Promise<void>,
): Promise<string> {
  const { c, s } = await ec2(region);
  const id = (await findSecurityGroup(region, cluster)) ?? (await createSecurityGroup(region, cluster));
  const rules: EC2.IpPermission[] = [
    { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: id, Description: 'between the nodes of the cluster' }] },
    ...[{ from: 22, to: 22 }, ...ports].map((p) => ({
      IpProtocol: 'tcp',
      FromPort: p.from,
      ToPort: p.to,
      IpRanges: [{ CidrIp: '0.0.0.0/0' }],
    })),
  ];
  for (const rule of rules) {
    // a group just created may not be found yet
    await retrying(
      ['InvalidGroup.NotFound'],
      () =>
        unless(['InvalidPermission.Duplicate'], () =>
          c.send(new s.AuthorizeSecurityGroupIngressCommand({ GroupId: id, IpPermissions: [rule] })),
        ),
      sleep,
    );
  }
  return id;
}

/** Delete the cluster's security group; instances still shutting down hold on to it until the deadline. */
export async function deleteSecurityGroup(region: string, cluster: string, deadline: number): Promise<void> {
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
      if (code !== 'DependencyViolation' || Date.now() > deadline) throw awsError(e);
      await sleep(2_000);
    }
  }
}
