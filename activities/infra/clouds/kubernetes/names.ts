/**
 * Names and labels of what SkyRun creates in a namespace. Pods are `<cluster>-head` and
 * `<cluster>-worker-<rank>` (DNS-1123: a cluster name with capitals, `_` or `.` is lowered and
 * dashed, plus a short hash of the real name so two such names never meet); the ports Service
 * is `<cluster>-ports` (DNS-1035: `skyrun-<hash>-ports` when the name cannot start one). Labels
 * are the source of truth: the cluster name (already a valid label value, core/names.ts), a
 * label-safe hash of the offer key, the rank and the node kind.
 */
import { createHash } from 'node:crypto';

export const LABELS = {
  cluster: 'skyrun.dev/cluster',
  offerKey: 'skyrun.dev/offer-key',
  rank: 'skyrun.dev/rank',
  node: 'skyrun.dev/node',
} as const;

/** The container that runs the task in every pod. */
export const CONTAINER = 'skyrun';

const hash = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

/** A DNS-1123 form of the cluster name (unique per cluster name). */
function dnsBase(cluster: string): string {
  const base = cluster.toLowerCase().replace(/[_.]/g, '-');
  return base === cluster ? base : `${base.replace(/-+$/, '')}-${hash(cluster, 6)}`;
}

export function podName(cluster: string, rank: number): string {
  return `${dnsBase(cluster)}-${rank === 0 ? 'head' : `worker-${rank}`}`;
}

export function serviceName(cluster: string): string {
  const name = `${dnsBase(cluster)}-ports`;
  return /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name) && name.length <= 63 ? name : `skyrun-${hash(cluster, 12)}-ports`;
}

/** The offer key as a label value (`wf-id#0` holds characters labels may not). */
export function offerKeyLabel(offerKey: string): string {
  return hash(offerKey, 16);
}

export function clusterSelector(cluster: string): string {
  return `${LABELS.cluster}=${cluster}`;
}

export function podLabels(cluster: string, offerKey: string, rank: number): Record<string, string> {
  return {
    [LABELS.cluster]: cluster,
    [LABELS.offerKey]: offerKeyLabel(offerKey),
    [LABELS.rank]: String(rank),
    [LABELS.node]: rank === 0 ? 'head' : 'worker',
  };
}
