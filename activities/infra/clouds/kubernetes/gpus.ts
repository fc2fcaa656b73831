/**
 * `skyrun show-gpus --infra k8s`: per context, each GPU kind with the counts one pod may ask on
 * a node (powers of two up to the node's count, as SkyPilot lists them), and total and free
 * GPUs; per node, its GPU and free of total. Free = allocatable minus what non-terminated pods
 * on the node request (unknown when pods of all namespaces cannot be listed).
 */
import { kubeSettings } from './config';
import { coreApi } from './api';
import { allowedContexts, loadKubeConfig } from './kubeconfig';
import { gpusInUse, listNodeShapes } from './nodes';

export interface KubeGpuNode {
  node: string;
  gpu: string;
  total: number;
  /** undefined when pods could not be listed */
  free?: number;
}

export interface KubeGpuContext {
  context: string;
  /** why the context could not be read */
  error?: string;
  gpus: Array<{ gpu: string; requestable: number[]; total: number; free?: number }>;
  nodes: KubeGpuNode[];
}

function requestable(max: number): number[] {
  const out: number[] = [];
  for (let n = 1; n <= max; n *= 2) out.push(n);
  if (max > 0 && out[out.length - 1] !== max) out.push(max);
  return out;
}

export async function kubeGpuAvailability(only?: string): Promise<KubeGpuContext[]> {
  const kc = loadKubeConfig();
  const settings = kubeSettings();
  const contexts = allowedContexts(kc).filter((c) => !only || c === only);
  return Promise.all(
    contexts.map(async (context): Promise<KubeGpuContext> => {
      try {
        const api = coreApi(kc, context);
        const [shapes, used] = await Promise.all([
          listNodeShapes(api, context, settings.gpuLabel),
          gpusInUse(api, context),
        ]);
        const nodes: KubeGpuNode[] = shapes
          .filter((n) => n.gpus > 0 && n.gpuName)
          .map((n) => ({
            node: n.name,
            gpu: n.gpuName!,
            total: n.gpus,
            free: used ? Math.max(0, n.gpus - (used.get(n.name) ?? 0)) : undefined,
          }));
        const kinds = [...new Set(nodes.map((n) => n.gpu))].sort();
        const gpus = kinds.map((gpu) => {
          const mine = nodes.filter((n) => n.gpu === gpu);
          return {
            gpu,
            requestable: requestable(Math.max(...mine.map((n) => n.total))),
            total: mine.reduce((s, n) => s + n.total, 0),
            free: used ? mine.reduce((s, n) => s + (n.free ?? 0), 0) : undefined,
          };
        });
        return { context, gpus, nodes };
      } catch (e) {
        return { context, error: (e as Error).message.split('\n')[0], gpus: [], nodes: [] };
      }
    }),
  );
}
