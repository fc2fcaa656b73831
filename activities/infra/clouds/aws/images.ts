/**
 * The image and root disk of an instance. Default images are looked up in each region by owner
 * and name (AMI ids differ per region), for the instance's architecture, as SkyPilot does:
 * - CPU types: Canonical's newest Ubuntu 22.04 (owner 099720109477);
 * - NVIDIA GPU types (p*, g*): AWS's newest "Deep Learning Base OSS Nvidia Driver GPU AMI
 *   (Ubuntu 22.04)" (owner 898082745236), which ships the NVIDIA driver, CUDA and Docker.
 * The root volume is gp3 on the image's root device, sized by disk_size, its IOPS and
 * throughput by disk_tier (SkyPilot's sky/clouds/aws.py figures).
 */
import type * as EC2 from '@aws-sdk/client-ec2';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import { ec2 } from './client';
import { call } from './errors';

/** Graviton types (m6g, c7gn, t4g, g5g, a1, ...) need arm64 images. */
export function archOf(instanceType: string): 'arm64' | 'x86_64' {
  return /^(a1|[a-z]+\d+g[a-z]*)\./.test(instanceType) ? 'arm64' : 'x86_64';
}

/** NVIDIA GPU types (p3..p6, g4dn..g6e, g5g, gr6) boot the Deep Learning AMI. */
export function wantsGpuImage(offer: Pick<Offer, 'instanceType' | 'accelerator'>): boolean {
  return !!offer.accelerator && /^(p\d|g\d|gr\d)/.test(offer.instanceType);
}

interface ImageQuery {
  what: string;
  owner: string;
  name: string;
}

function imageQuery(offer: Pick<Offer, 'instanceType' | 'accelerator'>): ImageQuery {
  const arch = archOf(offer.instanceType);
  if (wantsGpuImage(offer)) {
    const a = arch === 'arm64' ? 'ARM64 ' : '';
    return {
      what: `Deep Learning ${a}GPU AMI (Ubuntu 22.04)`,
      owner: '898082745236',
      name: `Deep Learning ${a}Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *`,
    };
  }
  const ubuntuArch = arch === 'arm64' ? 'arm64' : 'amd64';
  return {
    what: `Ubuntu 22.04 (${ubuntuArch})`,
    owner: '099720109477',
    name: `ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-${ubuntuArch}-server-*`,
  };
}

/** Lookups kept this long: a long-running worker picks up newly published images. */
const IMAGE_TTL_MS = 6 * 3600_000;
const imageCache = new Map<string, { at: number; id: Promise<string> }>();

/** The newest default image for the offer's type in its region; none there blocks the region. */
export function defaultImage(region: string, offer: Pick<Offer, 'instanceType' | 'accelerator'>): Promise<string> {
  const q = imageQuery(offer);
  const arch = archOf(offer.instanceType);
  const key = `${region}|${q.owner}|${q.name}|${arch}`;
  const cached = imageCache.get(key);
  if (cached && Date.now() - cached.at < IMAGE_TTL_MS) return cached.id;
  const id = lookUp(region, q, arch);
  imageCache.set(key, { at: Date.now(), id });
  id.catch(() => imageCache.delete(key));
  return id;
}

async function lookUp(region: string, q: ImageQuery, arch: string): Promise<string> {
  const { c, s } = await ec2(region);
  const r = await call(() =>
    c.send(
      new s.DescribeImagesCommand({
        Owners: [q.owner],
        Filters: [
          { Name: 'name', Values: [q.name] },
          { Name: 'architecture', Values: [arch] },
          { Name: 'state', Values: ['available'] },
        ],
      }),
    ),
  );
  // the newest: by creation date, then by name (whose suffix is the build date)
  const newest = (r.Images ?? []).sort(
    (a, b) => (b.CreationDate ?? '').localeCompare(a.CreationDate ?? '') || (b.Name ?? '').localeCompare(a.Name ?? ''),
  )[0];
  if (!newest?.ImageId) {
    // images are per region: another region may have one
    throw new ProviderError(
      'quota-region',
      `no ${q.what} image found in ${region} (owner ${q.owner}, name "${q.name}"); set image_id to an AMI of ${region}`,
      'InvalidAMIID.NotFound',
    );
  }
  return newest.ImageId;
}

const rootCache = new Map<string, string>();

/** The image's root device name (/dev/sda1, /dev/xvda); an unknown image blocks the region. */
export async function rootDeviceOf(region: string, imageId: string): Promise<string> {
  const key = `${region}|${imageId}`;
  const known = rootCache.get(key);
  if (known) return known;
  const { c, s } = await ec2(region);
  const r = await call(() => c.send(new s.DescribeImagesCommand({ ImageIds: [imageId] })));
  const device = r.Images?.[0]?.RootDeviceName;
  if (!device) {
    throw new ProviderError('quota-region', `image ${imageId} does not exist in ${region}`, 'InvalidAMIID.NotFound');
  }
  rootCache.set(key, device);
  return device;
}

/** SkyPilot's default disk_size. */
export const DEFAULT_DISK_GB = 256;

/**
 * The root volume for disk_size and disk_tier, as SkyPilot's sky/clouds/aws.py maps them: low =
 * standard (magnetic), medium (the default) = gp3 with 3500 IOPS, high = gp3 with 7000 IOPS,
 * ultra and best = io2 with 20000 IOPS; gp3 throughput = IOPS / 16 MiB/s.
 */
export function rootVolume(sizeGb: number | undefined, tier: Resources['diskTier']): EC2.EbsBlockDevice {
  const t = tier === 'best' ? 'ultra' : (tier ?? 'medium');
  const base = { VolumeSize: sizeGb ?? DEFAULT_DISK_GB, DeleteOnTermination: true };
  if (t === 'low') return { ...base, VolumeType: 'standard' };
  // io2 allows at most 500 IOPS per GiB (https://docs.aws.amazon.com/ebs/latest/userguide/provisioned-iops.html)
  if (t === 'ultra') return { ...base, VolumeType: 'io2', Iops: Math.min(20_000, 500 * base.VolumeSize) };
  const iops = t === 'high' ? 7_000 : 3_500;
  return { ...base, VolumeType: 'gp3', Iops: iops, Throughput: Math.floor(iops / 16) };
}
