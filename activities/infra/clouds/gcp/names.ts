/** GCP names and labels SkyRun derives from a cluster and an offer key (all deterministic). */
import { createHash } from 'node:crypto';

export const GCP_LABELS = {
  cluster: 'skyrun-cluster',
  offerKey: 'skyrun-offer-key',
  node: 'skyrun-node',
  rank: 'skyrun-rank',
} as const;

export const DEFAULT_GCP_IMAGE = 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts';

export const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** A GCP label value (lowercase letters, digits, - and _; at most 63); hashed when changed. */
export function labelValue(s: string): string {
  if (/^[a-z0-9_-]{0,63}$/.test(s)) return s;
  const clean = s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 54);
  return `${clean}-${sha(s).slice(0, 8)}`;
}

/** A resource name prefix for the cluster: [a-z]([-a-z0-9]*), at most 40 characters. */
export function namePrefix(cluster: string): string {
  let n = cluster.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (!/^[a-z]/.test(n)) n = `c${n}`;
  if (n !== cluster || n.length > 40) n = `${n.slice(0, 31).replace(/-+$/, '')}-${sha(cluster).slice(0, 8)}`;
  return n;
}

export function instanceName(cluster: string, offerKey: string, rank: number): string {
  return `${namePrefix(cluster)}-${sha(offerKey).slice(0, 6)}-${rank}`;
}

export function firewallName(cluster: string): string {
  return `skyrun-${namePrefix(cluster)}-ports`;
}

/** GCP requires requestId to be a UUID: a v5-shaped one from the hash of its seed. */
export function requestIdFor(seed: string): string {
  const h = sha(seed);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
