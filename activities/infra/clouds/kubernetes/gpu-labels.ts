/**
 * GPU node labels SkyRun reads and selects on, and their values mapped to catalog names:
 *   skypilot.co/accelerator           SkyPilot's own label (`l4`, `a100-80gb`)
 *   cloud.google.com/gke-accelerator  GKE (`nvidia-l4`, `nvidia-tesla-t4`, `nvidia-a100-80gb`)
 *   nvidia.com/gpu.product            NVIDIA GPU feature discovery (`NVIDIA-L4`, `NVIDIA-A100-SXM4-80GB`, `Tesla-T4`)
 * A node with several uses the configured `kubernetes.gpu_label`, else the first of this list.
 */
import { KNOWN_ACCELERATORS, canonicalAcceleratorName } from '../../../../core/task/accelerators';

export const GPU_LABEL_KEYS = [
  'skypilot.co/accelerator',
  'cloud.google.com/gke-accelerator',
  'nvidia.com/gpu.product',
] as const;
export type GpuLabelKey = (typeof GPU_LABEL_KEYS)[number];

export const GPU_RESOURCE = 'nvidia.com/gpu';

/** Form-factor and memory-type words in product names that are not part of the catalog name. */
const NOISE = new Set([
  'sxm',
  'sxm2',
  'sxm3',
  'sxm4',
  'sxm5',
  'pcie',
  'hbm3',
  'hbm3e',
  'hbm2',
  'hbm2e',
  'nvl',
  'nvlink',
]);
const KNOWN = new Set(KNOWN_ACCELERATORS.map((n) => n.toLowerCase()));

/** The catalog name for a label value: `NVIDIA-L4`, `nvidia-l4`, `l4` -> `L4`; `NVIDIA-A100-SXM4-80GB` -> `A100-80GB`. */
export function acceleratorFromLabel(value: string): string {
  let v = value.trim().toLowerCase().replace(/_/g, '-');
  v = v
    .replace(/^nvidia-/, '')
    .replace(/^tesla-/, '')
    .replace(/^geforce-/, '');
  const tokens = v.split('-').filter((t) => t && !NOISE.has(t));
  for (let n = tokens.length; n > 0; n--) {
    const name = tokens.slice(0, n).join('-');
    if (KNOWN.has(name)) {
      // an H100 is an 80GB part; A100-40GB is the plain A100
      if (name === 'h100-80gb') return 'H100';
      return canonicalAcceleratorName(name);
    }
  }
  if (tokens.length >= 2 && tokens[0] === 'rtx') return canonicalAcceleratorName(`rtx${tokens[1]}`);
  return (tokens[0] ?? v).toUpperCase();
}

/** The label key and value a node advertises its GPU with (the preferred key first), if any. */
export function nodeGpuLabel(
  labels: Record<string, string> | undefined,
  preferred?: GpuLabelKey,
): { key: GpuLabelKey; value: string } | undefined {
  const keys = preferred ? [preferred, ...GPU_LABEL_KEYS.filter((k) => k !== preferred)] : GPU_LABEL_KEYS;
  for (const key of keys) {
    const value = labels?.[key];
    if (value) return { key, value };
  }
  return undefined;
}

/**
 * A label value for a catalog name when no node shows one (the selector then guesses the
 * labeller's spelling): `L4` -> `l4` | `nvidia-l4` | `NVIDIA-L4`.
 */
export function labelValueFor(key: GpuLabelKey, name: string): string {
  const lower = name.toLowerCase();
  switch (key) {
    case 'skypilot.co/accelerator':
      return lower;
    case 'cloud.google.com/gke-accelerator':
      return ['t4', 'v100', 'p100', 'p4', 'k80', 'a100'].includes(lower) ? `nvidia-tesla-${lower}` : `nvidia-${lower}`;
    case 'nvidia.com/gpu.product':
      return `NVIDIA-${name.toUpperCase()}`;
  }
}
