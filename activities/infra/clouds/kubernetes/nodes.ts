/**
 * What a context's nodes can hold, read live: allocatable CPU, memory and `nvidia.com/gpu`, the
 * GPU label, and (for show-gpus) what non-terminated pods already request on each node.
 */
import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import { GPU_RESOURCE, type GpuLabelKey, acceleratorFromLabel, nodeGpuLabel } from './gpu-labels';
import { call } from './api';

export interface NodeShape {
  name: string;
  cpus: number;
  memoryGiB: number;
  gpus: number;
  /** catalog name of the node's GPU (from its label) */
  gpuName?: string;
  gpuLabel?: { key: GpuLabelKey; value: string };
  internalIp?: string;
}

const SUFFIX: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A Kubernetes quantity (`3500m`, `16Gi`, `1e9`) as a number; 0 when absent or unreadable. */
export function quantity(q: string | number | undefined): number {
  if (q === undefined) return 0;
  if (typeof q === 'number') return q;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$/.exec(q.trim());
  if (!m) return 0;
  const n = Number(m[1]);
  const mult = m[2] ? SUFFIX[m[2]] : 1;
  return Number.isFinite(n) && mult !== undefined ? n * mult : 0;
}

function schedulable(n: V1Node): boolean {
  if (n.spec?.unschedulable) return false;
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
  return !ready || ready.status === 'True';
}

export function shapeOf(n: V1Node, preferred?: GpuLabelKey): NodeShape {
  const a = n.status?.allocatable ?? {};
  const label = nodeGpuLabel(n.metadata?.labels, preferred);
  const gpus = quantity(a[GPU_RESOURCE]);
  return {
    name: n.metadata?.name ?? '',
    cpus: quantity(a.cpu),
    memoryGiB: quantity(a.memory) / 2 ** 30,
    gpus,
    gpuName: label && gpus > 0 ? acceleratorFromLabel(label.value) : undefined,
    gpuLabel: label,
    internalIp: n.status?.addresses?.find((x) => x.type === 'InternalIP')?.address,
  };
}

/** The context's schedulable, Ready nodes. */
export async function listNodeShapes(api: CoreV1Api, context: string, preferred?: GpuLabelKey): Promise<NodeShape[]> {
  const list = await call(`list nodes of context ${context}`, () => api.listNode({}));
  return list.items.filter(schedulable).map((n) => shapeOf(n, preferred));
}

/** What a pod requests of one resource (containers summed; init containers counted at their peak). */
export function podRequest(p: V1Pod, resource: string): number {
  const of = (c: { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }) =>
    quantity(c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource]);
  const main = (p.spec?.containers ?? []).reduce((s, c) => s + of(c), 0);
  const init = Math.max(0, ...(p.spec?.initContainers ?? []).map(of));
  return Math.max(main, init);
}

/** GPUs requested by non-terminated pods, per node name (cluster-wide pod list; undefined when forbidden). */
export async function gpusInUse(api: CoreV1Api, context: string): Promise<Map<string, number> | undefined> {
  let pods: V1Pod[];
  try {
    pods = (
      await call(`list pods of context ${context}`, () =>
        api.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' }),
      )
    ).items;
  } catch {
    return undefined;
  }
  const used = new Map<string, number>();
  for (const p of pods) {
    const node = p.spec?.nodeName;
    if (!node) continue;
    used.set(node, (used.get(node) ?? 0) + podRequest(p, GPU_RESOURCE));
  }
  return used;
}
