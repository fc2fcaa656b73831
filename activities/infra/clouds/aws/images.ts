/** The default image of a region: the newest Ubuntu 22.04 (Canonical's), for the instance's architecture. */
import { call } from './errors';
import { ec2 } from './client';

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

/** Graviton types (m6g, c7gn, t4g, a1, ...) need arm64 images. */
function isArm(instanceType: string): boolean {
  return /^(a1|[a-z]+\d+g[a-z]*)\./.test(instanceType);
}

const imageCache = new Map<string, string>();

export async function defaultImage(region: string, instanceType: string): Promise<string> {
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
