/**
 * The `kubernetes:` section of SKYRUN_HOME/config.yaml (SkyPilot's `kubernetes:` in spirit):
 *
 *   kubernetes:
 *     allowed_contexts: [my-cluster, burst]   # regions, in this order (default: the current context)
 *     namespace: ml                           # default: the context's own, else `default`
 *     provision_timeout: 60                   # seconds a pod may stay unschedulable (default 60; -1: indefinitely)
 *     hourly_price: 0                         # USD per node per hour the optimizer ranks with (default 0)
 *     ports: LoadBalancer                     # Service type for `ports`: ClusterIP | NodePort | LoadBalancer (any case)
 *     gpu_label: nvidia.com/gpu.product       # which GPU label to read/select when a node has several
 *     image: ubuntu:22.04                     # the pod image when the task gives no `docker:` image
 *     pod_config:                             # a partial Pod manifest merged into every pod (core/kube-pods.ts)
 *       spec:
 *         imagePullSecrets: [{name: regcred}]
 *
 * A task's `config: {kubernetes: {pod_config: ...}}` is merged over this one; SkyRun's own name,
 * labels, image, command and resource requests are merged over both (they win).
 * provision_timeout: SkyPilot's default is 10 s, which on a real cluster is shorter than a node
 * autoscaler needs to add a node; SkyRun waits 60 s before calling a pod unschedulable (a
 * capacity error that fails over). Every invalid value is a `config` ProviderError naming the field.
 */
import { ProviderError } from '../../../../core/errors';
import { type Manifest, podConfigIssues } from '../../../../core/kube-pods';
import { cloudSettings, settingsFile } from '../../settings';
import { GPU_LABEL_KEYS, type GpuLabelKey } from './gpu-labels';

export const SERVICE_TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;
export type ServiceType = (typeof SERVICE_TYPES)[number];

/** SkyPilot's default pod image is its own; SkyRun's is a plain Ubuntu (bash, tar, coreutils). */
export const DEFAULT_POD_IMAGE = 'ubuntu:22.04';
export const DEFAULT_PROVISION_TIMEOUT_S = 60;
/** SkyPilot's `provision_timeout: -1` (wait indefinitely): a year. */
const WAIT_INDEFINITELY_S = 365 * 24 * 3600;

export interface KubeSettings {
  provisionTimeoutS: number;
  hourlyPrice: number;
  serviceType: ServiceType;
  /** undefined: whichever of GPU_LABEL_KEYS a node has, in that order */
  gpuLabel?: GpuLabelKey;
  image: string;
  /** kubernetes.pod_config: merged into every pod */
  podConfig?: Manifest;
}

function bad(field: string, expected: string, got: unknown): ProviderError {
  return new ProviderError(
    'config',
    `${settingsFile()}: kubernetes.${field}: expected ${expected}, got ${JSON.stringify(got)}`,
  );
}

export function kubeSettings(): KubeSettings {
  const s = cloudSettings('kubernetes');
  const out: KubeSettings = {
    provisionTimeoutS: DEFAULT_PROVISION_TIMEOUT_S,
    hourlyPrice: 0,
    serviceType: 'LoadBalancer',
    image: DEFAULT_POD_IMAGE,
  };
  if (s.provision_timeout !== undefined) {
    const v = s.provision_timeout;
    if (typeof v !== 'number' || !Number.isFinite(v) || (v <= 0 && v !== -1))
      throw bad('provision_timeout', 'a positive number of seconds, or -1 to wait indefinitely', v);
    out.provisionTimeoutS = v === -1 ? WAIT_INDEFINITELY_S : v;
  }
  if (s.hourly_price !== undefined) {
    const v = s.hourly_price;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad('hourly_price', 'a price in USD >= 0', v);
    out.hourlyPrice = v;
  }
  if (s.ports !== undefined) {
    // SkyPilot writes its modes in lower case (`loadbalancer`); either case is taken
    const type = SERVICE_TYPES.find((t) => typeof s.ports === 'string' && t.toLowerCase() === s.ports.toLowerCase());
    if (!type) {
      const skypilotOnly = ['ingress', 'podip'].includes(String(s.ports).toLowerCase());
      throw bad(
        'ports',
        `${SERVICE_TYPES.join(' | ')}${skypilotOnly ? " (SkyPilot's ingress and podip modes are not supported)" : ''}`,
        s.ports,
      );
    }
    out.serviceType = type;
  }
  if (s.gpu_label !== undefined) {
    if (!GPU_LABEL_KEYS.includes(s.gpu_label as GpuLabelKey))
      throw bad('gpu_label', GPU_LABEL_KEYS.join(' | '), s.gpu_label);
    out.gpuLabel = s.gpu_label as GpuLabelKey;
  }
  if (s.image !== undefined) {
    if (typeof s.image !== 'string' || !s.image.trim()) throw bad('image', 'an image reference', s.image);
    out.image = s.image.trim();
  }
  if (s.pod_config !== undefined) {
    const issues = podConfigIssues(s.pod_config, 'kubernetes.pod_config');
    if (issues.length) throw new ProviderError('config', `${settingsFile()}: ${issues.join('; ')}`);
    out.podConfig = s.pod_config as Manifest;
  }
  if (
    s.namespace !== undefined &&
    (typeof s.namespace !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s.namespace))
  )
    throw bad('namespace', 'a namespace name', s.namespace);
  return out;
}
