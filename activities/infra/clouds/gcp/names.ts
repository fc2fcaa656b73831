/** GCP names and labels SkyRun derives from a cluster and an offer key (all deterministic). */
import { createHash } from 'node:crypto';

export const GCP_LABELS = {
  cluster: 'skyrun-cluster',
  offerKey: 'skyrun-offer-key',
  node: 'skyrun-node',
  rank: 'skyrun-rank',
  /** where the node is (also in the handle): a worker restarted later goes straight there */
  region: 'skyrun-region',
  zone: 'skyrun-zone',
} as const;

/** CPU nodes: Canonical's Ubuntu 22.04, by family (the newest image of it). */
export const DEFAULT_GCP_IMAGE = 'projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts';
/**
 * GPU nodes: Google's Deep Learning VM image (Ubuntu 22.04, NVIDIA driver and CUDA installed), by
 * family, the public counterpart of SkyPilot's `skypilot:custom-gpu-ubuntu-2204` (sky/clouds/gcp.py).
 * Families: https://cloud.google.com/deep-learning-vm/docs/images (`gcloud compute images list
 * --project deeplearning-platform-release --no-standard-images`). `gcp.gpu_image` overrides it.
 */
export const DEFAULT_GCP_GPU_IMAGE =
  'projects/deeplearning-platform-release/global/images/family/common-cu128-ubuntu-2204-nvidia-570';

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

/** The cluster's SSH rule (tcp:22 to its network tag), made for every cluster. */
export function sshFirewallName(cluster: string): string {
  return `skyrun-${namePrefix(cluster)}-ssh`;
}

/** GCP requires requestId to be a UUID: a v5-shaped one from the hash of its seed. */
export function requestIdFor(seed: string): string {
  const h = sha(seed);
  const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
