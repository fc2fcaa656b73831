/**
 * The boot disk of a GCP node: type from the task's `disk_tier` and the machine series, size from
 * `disk_size` (256 GB by default, as SkyPilot). Compute Engine's own default boot disk type is
 * pd-standard, which the newer series refuse, so SkyRun always names one.
 *
 * Tiers map as in SkyPilot (sky/clouds/gcp.py `_get_disk_type`): low pd-standard, medium (the
 * default) pd-balanced, high pd-ssd, ultra pd-extreme; `best` is the highest tier the series
 * takes. Per series, from Google's "Disk types" support tables
 * (https://cloud.google.com/compute/docs/disks#disk-types, and the per-series "Supported disk
 * types" sections of https://cloud.google.com/compute/docs/general-purpose-machines,
 * .../compute-optimized-machines, .../accelerator-optimized-machines):
 * - Hyperdisk only (no Persistent Disk at all): N4, N4D, N4A, C4, C4A, C4D, X4, H4D, A4, A4X, G4
 *   and A3 Ultra (a3-ultragpu-*): every tier is hyperdisk-balanced.
 * - No pd-standard: C3, C3D, A3 (High, Mega, Edge), G2, H3, Z3: low becomes pd-balanced.
 * - pd-extreme only on N2 with 64+ vCPUs, M1, M2, M3: elsewhere ultra becomes pd-ssd
 *   (A3 takes hyperdisk-balanced for ultra, as SkyPilot does).
 */
import type { Resources } from '../../../../core/task';

export type DiskTier = NonNullable<Resources['diskTier']>;

/** SkyPilot's default disk_size, in GB. */
export const DEFAULT_DISK_GB = 256;
/** SkyPilot's provisioned IOPS for pd-extreme (sky/provision/gcp/constants.py PD_EXTREME_IOPS). */
export const PD_EXTREME_IOPS = 20000;

const HYPERDISK_ONLY = new Set(['n4', 'n4d', 'n4a', 'c4', 'c4a', 'c4d', 'x4', 'h4d', 'a4', 'a4x', 'g4']);
const NO_PD_STANDARD = new Set(['c3', 'c3d', 'a3', 'g2', 'h3', 'z3']);
const PD_EXTREME_SERIES = new Set(['m1', 'm2', 'm3']);

export const seriesOf = (instanceType: string) => instanceType.split('-')[0]!.toLowerCase();

/** Whether the machine type takes Hyperdisk only (no pd-* disk at all). */
export function hyperdiskOnly(instanceType: string): boolean {
  return HYPERDISK_ONLY.has(seriesOf(instanceType)) || instanceType.startsWith('a3-ultragpu');
}

/** Whether the machine type takes this Persistent Disk / Hyperdisk type as its boot disk. */
export function supportsDiskType(instanceType: string, diskType: string): boolean {
  const series = seriesOf(instanceType);
  if (hyperdiskOnly(instanceType)) return diskType.startsWith('hyperdisk-');
  if (diskType === 'pd-standard') return !NO_PD_STANDARD.has(series);
  if (diskType === 'pd-extreme') return PD_EXTREME_SERIES.has(series) || (series === 'n2' && vcpus(instanceType) >= 64);
  return true;
}

function vcpus(instanceType: string): number {
  return Number(instanceType.split('-')[2] ?? 0) || 0;
}

/** The disk type for a tier on this machine type (undefined tier: medium). */
export function diskTypeFor(instanceType: string, tier: DiskTier | undefined): string {
  if (hyperdiskOnly(instanceType)) return 'hyperdisk-balanced';
  const series = seriesOf(instanceType);
  const ultra = series === 'a3' ? 'hyperdisk-balanced' : 'pd-extreme';
  const byTier: Record<Exclude<DiskTier, 'best'>, string> = {
    low: 'pd-standard',
    medium: 'pd-balanced',
    high: 'pd-ssd',
    ultra,
  };
  const order: Array<Exclude<DiskTier, 'best'>> = ['ultra', 'high', 'medium', 'low'];
  const wanted = tier === 'best' ? 'ultra' : (tier ?? 'medium');
  // the tier asked, else the next one down that the series takes (low falls back up to medium)
  const candidates = [...order.slice(order.indexOf(wanted)), 'medium' as const];
  for (const t of candidates) {
    const type = byTier[t];
    if (type.startsWith('hyperdisk-') || supportsDiskType(instanceType, type)) return type;
  }
  return 'pd-balanced';
}

/** The boot disk's initializeParams besides the image. */
export function bootDiskParams(
  instanceType: string,
  zone: string,
  sizeGb: number | undefined,
  tier: DiskTier | undefined,
): { diskType: string; diskSizeGb: string; provisionedIops?: string } {
  const type = diskTypeFor(instanceType, tier);
  return {
    diskType: `zones/${zone}/diskTypes/${type}`,
    diskSizeGb: String(sizeGb ?? DEFAULT_DISK_GB),
    // only pd-extreme takes custom IOPS (https://cloud.google.com/compute/docs/disks#disk-types)
    ...(type === 'pd-extreme' ? { provisionedIops: String(PD_EXTREME_IOPS) } : {}),
  };
}
