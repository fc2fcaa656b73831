/**
 * The cluster's pods: the manifest (requests and limits from the offer, the GPU node selector,
 * the image, a command that keeps the pod alive, the task's PVC volumes, merged into pod_config), create-or-adopt per rank, list by label, and
 * delete-and-verify.
 */
import type { V1Affinity, V1Pod, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ProviderError } from '../../../../core/errors';
import { type Manifest, mergeManifests } from '../../../../core/kube-pods';
import type { ProvisionRequest } from '../provider';
import { type Target, call, kubeError, statusOf, unlessNotFound } from './api';
import { GPU_RESOURCE } from './gpu-labels';
import { CONTAINER, LABELS, clusterSelector, offerKeyLabel, podLabels, podName } from './names';
import { parseInstanceType } from './offers';
import { portList } from './ports';

/** GPU nodes the pod may land on: label key -> accepted values. */
export type GpuSelector = Array<{ key: string; values: string[] }>;

/** Keeps PID 1 alive and lets it exit at once on SIGTERM (a bare `sleep` as PID 1 ignores it). */
export const KEEPALIVE = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done";

/** The pod image: the task's `docker:<image>`, else the configured default. */
export function podImage(imageId: string | undefined, fallback: string): string {
  if (imageId?.startsWith('docker:')) {
    const image = imageId.slice('docker:'.length).trim();
    if (!image) throw new ProviderError('invalid', `image_id ${imageId}: no image after docker:`);
    return image;
  }
  return fallback;
}

function placement(gpu: GpuSelector): { nodeSelector?: Record<string, string>; affinity?: V1Affinity } {
  if (!gpu.length) return {};
  if (gpu.length === 1 && gpu[0]!.values.length === 1) return { nodeSelector: { [gpu[0]!.key]: gpu[0]!.values[0]! } };
  return {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: gpu.map((g) => ({ matchExpressions: [{ key: g.key, operator: 'In', values: g.values }] })),
        },
      },
    },
  };
}

/** The task's volumes as pod volumes and mounts (`skyrun-vol-N` -> the claim, mounted at its path). */
export function pvcVolumes(volumes: Record<string, string> | undefined): {
  volumes: V1Volume[];
  mounts: V1VolumeMount[];
} {
  const entries = Object.entries(volumes ?? {});
  return {
    volumes: entries.map(([, claimName], i) => ({ name: `skyrun-vol-${i}`, persistentVolumeClaim: { claimName } })),
    mounts: entries.map(([mountPath], i) => ({ name: `skyrun-vol-${i}`, mountPath })),
  };
}

/**
 * The pod: kubernetes.pod_config (config.yaml), the task's pod_config merged over it, and SkyRun's
 * own manifest merged over both (core/kube-pods.ts: SkyPilot's merge), so that SkyRun's name,
 * labels, image, command and requests win and the users' lists (tolerations, imagePullSecrets,
 * volumes, env) are kept beside SkyRun's.
 */
export function podManifest(
  req: ProvisionRequest,
  rank: number,
  image: string,
  gpu: GpuSelector,
  podConfig: Manifest = {},
): V1Pod {
  const user = mergeManifests(podConfig, req.kubernetes?.podConfig ?? {});
  return mergeManifests(user, skyrunManifest(req, rank, image, gpu) as Manifest) as V1Pod;
}

function skyrunManifest(req: ProvisionRequest, rank: number, image: string, gpu: GpuSelector): V1Pod {
  const shape = parseInstanceType(req.offer.instanceType) ?? {
    cpus: req.offer.vcpus,
    memoryGiB: req.offer.memoryGiB,
    accelerator: req.offer.accelerator,
  };
  const requests: Record<string, string> = { cpu: String(shape.cpus), memory: `${shape.memoryGiB}Gi` };
  const limits: Record<string, string> = {};
  const gpus = req.offer.accelerator?.count ?? 0;
  if (gpus > 0) requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = String(gpus);
  const pvc = pvcVolumes(req.kubernetes?.volumes);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(req.clusterName, rank),
      labels: { ...req.labels, ...podLabels(req.clusterName, req.offerKey, rank) },
    },
    spec: {
      restartPolicy: 'Never',
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: CONTAINER,
          image,
          command: ['/bin/sh', '-c', KEEPALIVE],
          // the task's ports, declared (as SkyPilot does): what port-forwards and tools expect to find
          ...(req.ports?.length
            ? { ports: portList(req.ports).map((p) => ({ containerPort: p, protocol: 'TCP' })) }
            : {}),
          resources: { requests, ...(gpus > 0 ? { limits } : {}) },
          ...(pvc.mounts.length ? { volumeMounts: pvc.mounts } : {}),
        },
      ],
      ...(pvc.volumes.length ? { volumes: pvc.volumes } : {}),
      ...placement(gpus > 0 ? gpu : []),
      // GPU node pools are usually tainted so that only GPU pods land there (GKE, EKS)
      ...(gpus > 0 ? { tolerations: [{ key: GPU_RESOURCE, operator: 'Exists', effect: 'NoSchedule' }] } : {}),
    },
  };
}

export async function listPods(t: Target, cluster: string): Promise<V1Pod[]> {
  const list = await call(`list pods of ${cluster} in ${t.context}/${t.namespace}`, () =>
    t.api.listNamespacedPod({ namespace: t.namespace, labelSelector: clusterSelector(cluster) }),
  );
  return list.items;
}

/** Why an existing pod cannot be adopted (an earlier try's leftover), or undefined when it can. */
export function unadoptable(p: V1Pod, offerKey: string): string | undefined {
  if (p.metadata?.deletionTimestamp) return 'being deleted';
  if (p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded') return `ended (${p.status.phase})`;
  if (p.metadata?.labels?.[LABELS.offerKey] !== offerKeyLabel(offerKey)) return 'made for another offer';
  const waiting = p.status?.containerStatuses?.find((c) => c.state?.waiting)?.state?.waiting?.reason;
  if (waiting && BAD_WAITING.has(waiting)) return waiting;
  return undefined;
}

/** Container waiting reasons that never clear by themselves. */
export const BAD_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CrashLoopBackOff',
  'CreateContainerError',
  'CreateContainerConfigError',
]);

/** Delete one pod by name and wait until it is gone. */
async function deletePodAndWait(t: Target, name: string, sleep: (ms: number) => Promise<void>): Promise<void> {
  await unlessNotFound(`delete pod ${name}`, () =>
    t.api.deleteNamespacedPod({ name, namespace: t.namespace, gracePeriodSeconds: 0 }),
  );
  const deadline = Date.now() + 120_000;
  while (await unlessNotFound(`read pod ${name}`, () => t.api.readNamespacedPod({ name, namespace: t.namespace }))) {
    if (Date.now() > deadline) throw new ProviderError('transient', `pod ${name} still there 120 s after its delete`);
    await sleep(500);
  }
}

/**
 * Create the pod unless it exists: an adoptable one is kept (a retried activity), a leftover
 * of an earlier try is deleted and created again. 409 AlreadyExists means adopt.
 */
export async function ensurePod(t: Target, pod: V1Pod, offerKey: string, sleep: (ms: number) => Promise<void>) {
  const name = pod.metadata!.name!;
  for (let round = 0; round < 5; round++) {
    const have = await unlessNotFound(`read pod ${name}`, () =>
      t.api.readNamespacedPod({ name, namespace: t.namespace }),
    );
    if (have) {
      if (!unadoptable(have, offerKey)) return;
      await deletePodAndWait(t, name, sleep);
    }
    try {
      await t.api.createNamespacedPod({ namespace: t.namespace, body: pod });
      return;
    } catch (e) {
      if (statusOf(e) !== 409) throw kubeError(e, `create pod ${name} in ${t.context}/${t.namespace}`);
      // created meanwhile (an earlier try's request landed late): look again
    }
  }
  throw new ProviderError('transient', `pod ${name} kept changing while being created`);
}

/** Delete every pod of the cluster (by label). */
export async function deletePods(t: Target, cluster: string, gracePeriodSeconds?: number): Promise<void> {
  await call(`delete pods of ${cluster} in ${t.context}/${t.namespace}`, () =>
    t.api.deleteCollectionNamespacedPod({
      namespace: t.namespace,
      labelSelector: clusterSelector(cluster),
      gracePeriodSeconds,
    }),
  );
}
