/**
 * `kubernetes` infra (`infra: k8s`, `kubernetes`, `k8s/<context>`): each allowed kubeconfig
 * context is a region (no zones); a node is a pod, `<cluster>-head` and `<cluster>-worker-N`,
 * labelled with the cluster, the offer key and the rank; `ports` make one Service per cluster.
 * Offers come from the live nodes of each context (offers.ts), provisioning from provision.ts,
 * config from config.ts. Teardown deletes the cluster's pods and services by label in every
 * allowed context and lists again until nothing is left. Pods cannot be stopped (as in
 * SkyPilot): no stop/start.
 *
 * Credentials that may not list nodes (namespace-scoped RBAC, common on shared clusters): the
 * context is offered unverified (any pod shape, GPUs selected on the configured label's
 * spelling), the scheduler decides and provision_timeout fails over; `check` says so.
 *
 * An allowed context that does not answer offers nothing (the others still do, each probe
 * bounded by SKYRUN_K8S_PROBE_TIMEOUT_MS), and `check` names it. Teardown goes to every
 * allowed context (a cluster's earlier attempts may have left pods in another one), so one that
 * does not answer fails it as transient, naming the context, after the others are cleaned: the
 * cluster is never reported gone while it may still have pods there.
 */
import type { ClusterHandle } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { Offer } from '../../../../core/offers';
import type { Resources } from '../../../../core/task';
import type { Endpoint, InstanceState, Provider, ProvisionContext, ProvisionRequest } from '../provider';
import { type Target, coreApi, call, forbidden } from './api';
import { kubeSettings } from './config';
import type { GpuLabelKey } from './gpu-labels';
import { allowedContexts, loadKubeConfig, namespaceFor } from './kubeconfig';
import { type NodeShape, listNodeShapes } from './nodes';
import { fits, offerFor, podShapeFor } from './offers';
import { deletePods, listPods } from './pods';
import { deleteServices, listServices, portList, serviceEndpoints } from './ports';
import { kubeLifecycle, targetFor } from './provision';

export { kubeGpuAvailability } from './gpus';
export { acceleratorFromLabel } from './gpu-labels';
export { podName, serviceName } from './names';

/** A short timeout for the optimizer's and check's calls: an unreachable cluster must not stall a launch. */
const PROBE_TIMEOUT_MS = Number(process.env.SKYRUN_K8S_PROBE_TIMEOUT_MS ?? 5_000);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function targets(): Target[] {
  const kc = loadKubeConfig();
  return allowedContexts(kc).map((context) => ({
    api: coreApi(kc, context),
    context,
    namespace: namespaceFor(kc, context),
  }));
}

/** Run `f` on every allowed context; the results of those that answered, and the first error of those that did not. */
async function everyContext<T>(f: (t: Target) => Promise<T>): Promise<{ results: T[]; error?: Error }> {
  const settled = await Promise.allSettled(targets().map(f));
  const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  return { results, error: failed?.reason as Error | undefined };
}

function stateOf(p: import('@kubernetes/client-node').V1Pod): InstanceState {
  const instanceId = p.metadata?.name ?? '';
  if (p.metadata?.deletionTimestamp) return { instanceId, state: 'terminated', reason: 'being deleted' };
  switch (p.status?.phase) {
    case 'Running':
      return { instanceId, state: 'running' };
    case 'Succeeded':
    case 'Failed':
      return { instanceId, state: 'terminated', reason: p.status.reason ?? p.status.message ?? p.status.phase };
    default:
      return { instanceId, state: 'pending' };
  }
}

export class KubernetesProvider implements Provider {
  readonly name = 'kubernetes';
  private shapes = new Map<string, { at: number; shapes: Promise<NodeShape[]> }>();

  async check(): Promise<{ enabled: boolean; reason?: string }> {
    let kc;
    let contexts: string[];
    try {
      kc = loadKubeConfig();
      kubeSettings();
      contexts = allowedContexts(kc);
    } catch (e) {
      return { enabled: false, reason: (e as Error).message };
    }
    if (!contexts.length)
      return { enabled: false, reason: 'the kubeconfig has no current context; set kubernetes.allowed_contexts' };
    const probes = await Promise.all(
      contexts.map(async (context) => {
        try {
          const namespace = namespaceFor(kc, context);
          const api = coreApi(kc, context, PROBE_TIMEOUT_MS);
          await call(`context ${context}`, () => api.listNamespacedPod({ namespace, limit: 1 }));
          const nodes = await call(`context ${context}`, () => api.listNode({ limit: 1 })).then(
            () => '',
            (e: unknown) =>
              forbidden(e) ? '; may not list nodes, so offers are not checked against node capacity or GPU labels' : '',
          );
          return { context, ok: `${context} (namespace ${namespace}${nodes})` };
        } catch (e) {
          return { context, error: (e as Error).message.split('\n')[0] };
        }
      }),
    );
    const ok = probes.flatMap((p) => (p.ok ? [p.ok] : []));
    const bad = probes.flatMap((p) => (p.error ? [p.error] : []));
    if (!ok.length) return { enabled: false, reason: bad.join('; ') };
    return { enabled: true, reason: `contexts: ${ok.join(', ')}${bad.length ? `; unusable: ${bad.join('; ')}` : ''}` };
  }

  /** A context's node shapes, kept 10 s (check, optimize and the launch table ask in a row). */
  private nodeShapes(
    kc: ReturnType<typeof loadKubeConfig>,
    context: string,
    gpuLabel?: GpuLabelKey,
  ): Promise<NodeShape[]> {
    const hit = this.shapes.get(context);
    if (hit && Date.now() - hit.at < 10_000) return hit.shapes;
    const shapes = listNodeShapes(coreApi(kc, context, PROBE_TIMEOUT_MS), context, gpuLabel);
    this.shapes.set(context, { at: Date.now(), shapes });
    shapes.catch(() => this.shapes.delete(context));
    return shapes;
  }

  async offers(r: Resources, numNodes: number, candidate: number): Promise<Offer[]> {
    if ((r.infra.cloud !== undefined && r.infra.cloud !== 'kubernetes') || r.infra.zone) return [];
    const shape = podShapeFor(r);
    if (!shape) return [];
    let kc;
    try {
      kc = loadKubeConfig();
    } catch {
      return [];
    }
    const settings = kubeSettings();
    const contexts = allowedContexts(kc).filter((c) => !r.infra.region || c === r.infra.region);
    const per = await Promise.all(
      contexts.map(async (context) => {
        // a context that cannot be reached offers nothing; one whose nodes are not ours to see
        // offers the pod unverified; `check` says which
        const shapes = await this.nodeShapes(kc, context, settings.gpuLabel).catch((e: unknown) =>
          forbidden(e) ? undefined : [],
        );
        return !shapes || shapes.some((n) => fits(shape, n))
          ? [offerFor(context, shape, numNodes, candidate, settings.hourlyPrice)]
          : [];
      }),
    );
    return per.flat();
  }

  async provision(req: ProvisionRequest, ctx: ProvisionContext): Promise<ClusterHandle> {
    const boot = await kubeLifecycle.bootstrap(req, ctx);
    const placement = await kubeLifecycle.runInstances(req, boot, ctx);
    await kubeLifecycle.waitInstances(req, placement, ctx);
    return kubeLifecycle.clusterInfo(req, placement);
  }

  /** The cluster's pods in every allowed context; a context that did not answer fails the query only when no pod was found. */
  async query(clusterName: string): Promise<InstanceState[]> {
    const { results, error } = await everyContext((t) => listPods(t, clusterName));
    const states = results.flat().map(stateOf);
    if (!states.length && error) throw error;
    return states;
  }

  async terminate(clusterName: string): Promise<void> {
    const { error } = await everyContext(async (t) => {
      await deletePods(t, clusterName);
      await deleteServices(t, clusterName);
      for (let round = 0; ; round++) {
        const [pods, services] = await Promise.all([listPods(t, clusterName), listServices(t, clusterName)]);
        if (!pods.length && !services.length) return;
        if (round >= 120)
          throw new ProviderError(
            'transient',
            `still in ${t.context}/${t.namespace} after delete: ${[...pods, ...services].map((o) => o.metadata?.name).join(', ')}`,
          );
        // pods past their grace period are deleted again without one
        if (round === 20) await deletePods(t, clusterName, 0);
        await sleep(Math.min(250 * (round + 1), 2000));
      }
    });
    // the others are clean; this one may still hold pods of the cluster (an earlier attempt's)
    if (error) {
      const e = error instanceof ProviderError ? error : new ProviderError('unknown', error.message);
      throw new ProviderError(
        e.errorClass,
        `${e.message} (${clusterName} may still have pods or services there: not reported gone)`,
        e.code,
      );
    }
  }

  async endpoints(handle: ClusterHandle, ports: Array<{ from: number; to: number }>): Promise<Endpoint[]> {
    return serviceEndpoints(targetFor(handle.offer.region), handle.clusterName, portList(ports));
  }
}
