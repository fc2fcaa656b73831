/**
 * The provisioning steps on Kubernetes (region = context, no zones): bootstrap checks that the
 * task's volume claims exist (invalid, naming the claim, before any pod), finds where GPU pods may
 * go and creates the ports Service; runInstances creates or adopts one pod per rank;
 * waitInstances waits until every pod runs with an IP, and turns what the scheduler and the
 * kubelet say into the taxonomy: unschedulable past `provision_timeout` -> capacity (the pods
 * deleted first), image pull failures and containers that cannot start -> invalid (naming the
 * image; the pods deleted first); clusterInfo is the handle.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { ClusterHandle, NodeInfo } from '../../../../core/cluster';
import { ProviderError } from '../../../../core/errors';
import type { InstanceLifecycle, Placement, ProvisionContext, ProvisionRequest } from '../provider';
import { type Target, coreApi, kubeError, call, forbidden, unlessNotFound } from './api';
import { type KubeSettings, kubeSettings } from './config';
import { GPU_LABEL_KEYS, labelValueFor } from './gpu-labels';
import { allowedContexts, loadKubeConfig, namespaceFor } from './kubeconfig';
import { CONTAINER, podName } from './names';
import { listNodeShapes } from './nodes';
import { BAD_WAITING, type GpuSelector, deletePods, ensurePod, listPods, podImage, podManifest } from './pods';
import { ensureService, portList } from './ports';

/** How long a scheduled pod may take to run (image pulls); env SKYRUN_K8S_READY_TIMEOUT_MS. */
const READY_TIMEOUT_MS = Number(process.env.SKYRUN_K8S_READY_TIMEOUT_MS ?? 10 * 60_000);

/** The context (an allowed one) as a target: API and namespace. */
export function targetFor(context: string): Target {
  const kc = loadKubeConfig();
  if (!allowedContexts(kc).includes(context))
    throw new ProviderError('config', `kubernetes context '${context}' is not in kubernetes.allowed_contexts`);
  return { api: coreApi(kc, context), context, namespace: namespaceFor(kc, context) };
}

/** Where a GPU pod may go: the label values of the nodes carrying that GPU (a guess when nodes cannot be listed). */
async function gpuSelector(t: Target, req: ProvisionRequest, s: KubeSettings): Promise<GpuSelector> {
  const acc = req.offer.accelerator;
  if (!acc) return [];
  let shapes;
  try {
    shapes = await listNodeShapes(t.api, t.context, s.gpuLabel);
  } catch (e) {
    if (!forbidden(e)) throw e;
    // nodes are not ours to list (namespace-scoped credentials): select on the configured label's spelling
    const key = s.gpuLabel ?? GPU_LABEL_KEYS[0];
    return [{ key, values: [labelValueFor(key, acc.name)] }];
  }
  const byKey = new Map<string, Set<string>>();
  for (const n of shapes) {
    if (!n.gpuLabel || n.gpuName?.toLowerCase() !== acc.name.toLowerCase()) continue;
    const set = byKey.get(n.gpuLabel.key) ?? new Set<string>();
    byKey.set(n.gpuLabel.key, set.add(n.gpuLabel.value));
  }
  if (!byKey.size)
    throw new ProviderError('capacity', `no Ready node in kubernetes context ${t.context} has ${acc.name} GPUs`);
  return [...byKey].map(([key, values]) => ({ key, values: [...values].sort() }));
}

/**
 * Every volume's PersistentVolumeClaim exists in the namespace, before any pod is created (a pod
 * on a missing claim would only wait, unschedulable, for the provision timeout). Credentials that
 * may not read claims leave the check to the scheduler.
 */
async function checkClaims(t: Target, volumes: Record<string, string> | undefined): Promise<void> {
  for (const [mount, claim] of Object.entries(volumes ?? {})) {
    try {
      const have = await unlessNotFound(`read PersistentVolumeClaim ${claim}`, () =>
        t.api.readNamespacedPersistentVolumeClaim({ name: claim, namespace: t.namespace }),
      );
      if (!have)
        throw new ProviderError(
          'invalid',
          `volumes: ${mount}: no PersistentVolumeClaim '${claim}' in namespace ${t.namespace} of kubernetes context ${t.context}; create it first (kubectl apply, or sky volumes apply) or fix the name`,
          'PVCNotFound',
        );
    } catch (e) {
      if (!forbidden(e)) throw e;
    }
  }
}

interface Boot {
  target: Target;
  gpu: GpuSelector;
  image: string;
  settings: KubeSettings;
}

/** Why the pod failed for good, as a ProviderError; undefined while it may still come up. */
function podFailure(p: V1Pod): ProviderError | undefined {
  const name = p.metadata?.name;
  const image = p.spec?.containers?.[0]?.image;
  for (const c of p.status?.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && BAD_WAITING.has(w.reason)) {
      const what = /Image/.test(w.reason) ? `cannot pull image ${c.image ?? image}` : `container cannot start`;
      return new ProviderError(
        'invalid',
        `pod ${name}: ${what} (${w.reason}${w.message ? `: ${w.message}` : ''})`,
        w.reason,
      );
    }
  }
  if (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') {
    const term = p.status.containerStatuses?.find((c) => c.state?.terminated)?.state?.terminated;
    const why = p.status.reason ?? term?.reason ?? p.status.phase;
    const msg = p.status.message ?? term?.message ?? '';
    const cls = ['ContainerCannotRun', 'StartError', 'Error'].includes(why) ? 'invalid' : 'capacity';
    return new ProviderError(
      cls,
      `pod ${name} ended while starting: ${why}${msg ? `: ${msg}` : ''} (image ${image})`,
      why,
    );
  }
  return undefined;
}

/** The scheduler's reason the pod is not placed (its condition, else its latest FailedScheduling event). */
async function unschedulableReason(t: Target, p: V1Pod): Promise<string | undefined> {
  const cond = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (cond?.reason !== 'Unschedulable') return undefined;
  if (cond.message) return cond.message;
  const events = await call(`list events of pod ${p.metadata?.name}`, () =>
    t.api.listNamespacedEvent({
      namespace: t.namespace,
      fieldSelector: `involvedObject.name=${p.metadata?.name},reason=FailedScheduling`,
    }),
  ).catch(() => undefined);
  const last = events?.items
    .sort((a, b) => String(a.lastTimestamp ?? '').localeCompare(String(b.lastTimestamp ?? '')))
    .pop();
  return last?.message ?? 'Unschedulable';
}

async function waitPods(req: ProvisionRequest, boot: Boot, ctx: ProvisionContext): Promise<void> {
  const t = boot.target;
  const timeoutMs = boot.settings.provisionTimeoutS * 1000;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const unschedulableSince = new Map<string, number>();
  const names = Array.from({ length: req.offer.numNodes }, (_, rank) => podName(req.clusterName, rank));
  for (let round = 0; ; round++) {
    const byName = new Map((await listPods(t, req.clusterName)).map((p) => [p.metadata?.name, p]));
    let ready = 0;
    for (const name of names) {
      const p = byName.get(name);
      if (!p) throw new ProviderError('capacity', `pod ${name} vanished while starting in ${t.context}/${t.namespace}`);
      const failed = podFailure(p);
      if (failed) {
        // it will not come up by itself (a kubelet retries the pull forever): leave nothing behind
        await deletePods(t, req.clusterName, 0).catch(() => undefined);
        throw failed;
      }
      if (p.status?.phase === 'Running' && p.status.podIP) {
        ready++;
        continue;
      }
      const why = await unschedulableReason(t, p);
      if (!why) {
        unschedulableSince.delete(name);
        continue;
      }
      const since = unschedulableSince.get(name) ?? Date.now();
      unschedulableSince.set(name, since);
      if (Date.now() - since >= timeoutMs) {
        await deletePods(t, req.clusterName, 0);
        throw new ProviderError(
          'capacity',
          `pod ${name} unschedulable in kubernetes context ${t.context} for ${boot.settings.provisionTimeoutS} s: ${why}`,
          'FailedScheduling',
        );
      }
    }
    if (ready === names.length) return;
    if (Date.now() > deadline) {
      await deletePods(t, req.clusterName, 0);
      throw new ProviderError(
        'capacity',
        `pods of ${req.clusterName} not Running in ${t.context} after ${READY_TIMEOUT_MS / 1000} s`,
      );
    }
    await ctx.sleep(Math.min(250 * (round + 1), 2000));
  }
}

export const kubeLifecycle: InstanceLifecycle<Boot> = {
  async bootstrap(req) {
    const settings = kubeSettings();
    const target = targetFor(req.offer.region);
    const image = podImage(req.imageId, settings.image);
    await checkClaims(target, req.kubernetes?.volumes);
    const gpu = await gpuSelector(target, req, settings);
    if (req.ports?.length) await ensureService(target, req.clusterName, portList(req.ports), settings.serviceType);
    return { target, gpu, image, settings };
  },

  async runInstances(req, boot, ctx): Promise<Placement> {
    const names: string[] = [];
    const made = [];
    for (let rank = 0; rank < req.offer.numNodes; rank++) {
      const pod = podManifest(req, rank, boot.image, boot.gpu, boot.settings.podConfig);
      names.push(pod.metadata!.name!);
      made.push(ensurePod(boot.target, pod, req.offerKey, ctx.sleep));
    }
    const settled = await Promise.allSettled(made);
    ctx.heartbeat(names);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw kubeError(failed.reason, `create pods of ${req.clusterName}`);
    return { zone: '' };
  },

  async waitInstances(req, _placement, ctx) {
    const settings = kubeSettings();
    await waitPods(req, { target: targetFor(req.offer.region), gpu: [], image: '', settings }, ctx);
  },

  async clusterInfo(req): Promise<ClusterHandle> {
    const t = targetFor(req.offer.region);
    const byName = new Map((await listPods(t, req.clusterName)).map((p) => [p.metadata?.name, p]));
    const nodes: NodeInfo[] = Array.from({ length: req.offer.numNodes }, (_, rank) => {
      const pod = podName(req.clusterName, rank);
      const p = byName.get(pod);
      if (!p?.status?.podIP) throw new ProviderError('capacity', `pod ${pod} vanished in ${t.context}/${t.namespace}`);
      return {
        rank,
        instanceId: pod,
        ip: p.status.podIP,
        runner: { kind: 'kube', context: t.context, namespace: t.namespace, pod, container: CONTAINER },
      };
    });
    return { clusterName: req.clusterName, offer: req.offer, offerKey: req.offerKey, nodes };
  },
};
