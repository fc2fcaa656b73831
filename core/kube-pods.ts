/**
 * What a task asks of its Kubernetes pods besides resources (pure; shared by the task checks,
 * the optimizer and the kubernetes provider):
 *
 * - `volumes: {<mount path>: <PVC name>}`: existing PersistentVolumeClaims of the context's
 *   namespace, mounted into every pod at that path (SkyPilot's `sky volumes apply` creates them;
 *   SkyRun only mounts claims that exist).
 * - `kubernetes.pod_config`: a partial Pod manifest (SKYRUN_HOME/config.yaml, and the task's
 *   `config: {kubernetes: {pod_config: ...}}` over it) deep-merged into every pod.
 *
 * The merge is SkyPilot's (`merge_k8s_configs`): mappings merge key by key; `containers` and
 * `initContainers` merge their first items; `volumes`, `volumeMounts` and `env` merge items of
 * the same `name` and append the others; any other list (imagePullSecrets, tolerations, ...) is
 * appended; anything else is replaced by the override.
 */
export type Manifest = Record<string, unknown>;

const isMap = (v: unknown): v is Manifest => typeof v === 'object' && v !== null && !Array.isArray(v);

const FIRST_ITEM_LISTS = new Set(['containers', 'initContainers']);
const BY_NAME_LISTS = new Set(['volumes', 'volumeMounts', 'env']);

/** `override` merged into a copy of `base` (neither is changed). */
export function mergeManifests(base: Manifest, override: Manifest): Manifest {
  const out: Manifest = structuredClone(base);
  for (const [key, value] of Object.entries(override)) {
    const have = out[key];
    if (isMap(have) && isMap(value)) out[key] = mergeManifests(have, value);
    else if (Array.isArray(have) && Array.isArray(value)) out[key] = mergeLists(key, have, value);
    else out[key] = structuredClone(value);
  }
  return out;
}

function mergeLists(key: string, have: unknown[], value: unknown[]): unknown[] {
  if (FIRST_ITEM_LISTS.has(key)) {
    if (!have.length) return structuredClone(value);
    if (!value.length) return have;
    const first = isMap(have[0]) && isMap(value[0]) ? mergeManifests(have[0], value[0]) : structuredClone(value[0]);
    return [first, ...have.slice(1)];
  }
  if (BY_NAME_LISTS.has(key)) {
    const out = [...have];
    for (const item of value) {
      const name = isMap(item) ? item.name : undefined;
      const at = name === undefined ? -1 : out.findIndex((x) => isMap(x) && x.name === name);
      if (at >= 0) out[at] = mergeManifests(out[at] as Manifest, item as Manifest);
      else out.push(structuredClone(item));
    }
    return out;
  }
  return [...have, ...structuredClone(value)];
}

const LIST_FIELDS = ['imagePullSecrets', 'tolerations', 'volumes', 'containers', 'initContainers'] as const;

/**
 * What is wrong with a pod_config (`where` names it, e.g. `kubernetes.pod_config`): its shape
 * where SkyRun merges into it. The API server judges the rest when the pod is created.
 */
export function podConfigIssues(v: unknown, where: string): string[] {
  if (!isMap(v)) return [`${where}: expected a partial Pod manifest (a mapping), got ${JSON.stringify(v)}`];
  const out: string[] = [];
  const known = ['apiVersion', 'kind', 'metadata', 'spec'];
  for (const k of Object.keys(v))
    if (!known.includes(k)) out.push(`${where}.${k}: unknown Pod field; expected one of ${known.join(', ')}`);
  if (v.kind !== undefined && v.kind !== 'Pod') out.push(`${where}.kind: expected Pod, got ${JSON.stringify(v.kind)}`);
  if (v.metadata !== undefined) {
    if (!isMap(v.metadata)) out.push(`${where}.metadata: expected a mapping`);
    else {
      for (const k of ['labels', 'annotations'] as const) {
        const m = v.metadata[k];
        if (m !== undefined && (!isMap(m) || Object.values(m).some((x) => typeof x !== 'string')))
          out.push(`${where}.metadata.${k}: expected a mapping of names to strings`);
      }
      for (const k of ['name', 'namespace'] as const)
        if (v.metadata[k] !== undefined)
          out.push(
            `${where}.metadata.${k}: SkyRun names the pods and takes the namespace from the context or kubernetes.namespace; remove it`,
          );
    }
  }
  if (v.spec !== undefined) {
    if (!isMap(v.spec)) out.push(`${where}.spec: expected a mapping`);
    else {
      for (const k of LIST_FIELDS) {
        const list = v.spec[k];
        if (list !== undefined && (!Array.isArray(list) || list.some((x) => !isMap(x))))
          out.push(`${where}.spec.${k}: expected a list of mappings`);
      }
      const c = v.spec.containers;
      if (Array.isArray(c) && isMap(c[0])) {
        for (const k of ['env', 'volumeMounts'] as const)
          if (c[0][k] !== undefined && (!Array.isArray(c[0][k]) || (c[0][k] as unknown[]).some((x) => !isMap(x))))
            out.push(`${where}.spec.containers[0].${k}: expected a list of mappings`);
      }
    }
  }
  return out;
}

/** A PersistentVolumeClaim name (a DNS subdomain). */
const PVC_NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** What is wrong with a task's `volumes` (mount path -> volume name), one message per bad entry. */
export function volumeIssues(volumes: Record<string, unknown>): Array<{ field: string; message: string }> {
  const out: Array<{ field: string; message: string }> = [];
  if ('list' in volumes && Array.isArray(volumes.list) && Object.keys(volumes).length === 1)
    return [{ field: 'volumes', message: 'expected a mapping of mount path to volume name (/mnt/data: my-pvc)' }];
  for (const [mount, name] of Object.entries(volumes)) {
    const field = `volumes.${mount}`;
    if (!mount.startsWith('/') || mount.includes('\0'))
      out.push({ field, message: `mount path ${JSON.stringify(mount)} must be absolute (start with /)` });
    else if (typeof name !== 'string' || name.length > 253 || !PVC_NAME_RE.test(name))
      out.push({
        field,
        message: `expected the name of a PersistentVolumeClaim (lower-case letters, digits, '-' and '.'), got ${JSON.stringify(name)}`,
      });
  }
  return out;
}

/** The task's `config.kubernetes.pod_config`, when given. */
export function taskPodConfig(config: Record<string, unknown> | undefined): unknown {
  const k = config?.kubernetes;
  return isMap(k) ? k.pod_config : undefined;
}
