// SkyPilot's config file (~/.sky/config.yaml, or SKYPILOT_CONFIG) and SkyRun's own
// (SKYRUN_HOME/config.yaml): parsed, checked against the keys of SkyPilot's config schema
// (sky/utils/schemas.py get_config_schema) plus SkyRun's own, and merged. What SkyRun acts on
// is checked (a bad value is an error with file:line); what it does not act on is accepted
// and reported once as ignored; an unknown key is a warning. Pure TypeScript plus `yaml`.

import { LineCounter, isMap, isNode, parseDocument } from 'yaml';
import { describe, isPlainObject } from './task/parsed';
import type { TaskIssue } from './task/types';
import { unknownMessage } from './suggest';

/** Returns what was expected when `v` is bad, else undefined. */
type Check = (v: unknown) => string | undefined;

/** A key of a section: `check` when SkyRun acts on it; `ignored` (the reason) when it does not. */
type KeySpec = { check: Check } | { ignored: string };

const str: Check = (v) => (typeof v === 'string' && v.trim() !== '' ? undefined : 'a non-empty string');
const bool: Check = (v) => (typeof v === 'boolean' ? undefined : 'true or false');
const strList: Check = (v) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string') ? undefined : 'a list of strings';
const mapping: Check = (v) => (isPlainObject(v) ? undefined : 'a mapping');
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? undefined : 'a positive number');
/** `ssh_proxy_command`: one command, null, or a mapping region -> command (or null). */
const proxy: Check = (v) =>
  v === null ||
  typeof v === 'string' ||
  (isPlainObject(v) && Object.values(v).every((x) => x === null || typeof x === 'string'))
    ? undefined
    : 'a command string, or a mapping of region to command';

/** The clouds `allowed_clouds` may name (SkyPilot's ALL_CLOUDS and storage-only clouds; any case). */
export const CONFIG_CLOUDS = [
  'aws', 'azure', 'gcp', 'ibm', 'lambda', 'scp', 'oci', 'kubernetes', 'runpod', 'vast', 'vsphere', 'cudo', 'fluidstack',
  'paperspace', 'primeintellect', 'do', 'nebius', 'hyperbolic', 'seeweb', 'shadeform', 'ssh', 'slurm', 'yotta', 'coreweave',
  'cloudflare', 'r2',
]; // prettier-ignore
const clouds: Check = (v) =>
  Array.isArray(v) && v.every((x) => typeof x === 'string' && CONFIG_CLOUDS.includes(x.toLowerCase()))
    ? undefined
    : `a list of cloud names (${CONFIG_CLOUDS.slice(0, 8).join(', ')}, ...)`;

const IGNORED = (why: string): KeySpec => ({ ignored: why });
const NOT_YET = IGNORED('SkyRun does not act on it yet');
const NETWORK = IGNORED("SkyRun's nodes use the default network with public IPs (see README, Clouds)");
const SHARED_IGNORED = (keys: string[], spec: KeySpec): Record<string, KeySpec> =>
  Object.fromEntries(keys.map((k) => [k, spec]));

/** The sections of a config file and their keys; a section given as a string is ignored whole. */
const SECTIONS: Readonly<Record<string, Record<string, KeySpec> | string>> = {
  allowed_clouds: '', // a list, checked on its own (see checkTop)
  aws: {
    ssh_proxy_command: { check: proxy },
    ssh_user: { check: str },
    regions: { check: strList },
    use_instance_role: { check: bool },
    ...SHARED_IGNORED(['vpc_name', 'vpc_names', 'subnet_names', 'use_internal_ips', 'security_group_name'], NETWORK),
    labels: IGNORED("instances carry the task's resources.labels and SkyRun's own tags"),
    ...SHARED_IGNORED(
      [
        'prioritize_reservations', 'specific_reservations', 'disk_encrypted', 'use_ssm', 'post_provision_runcmd',
        'enforce_tags', 'capabilities', 'remote_identity', 'instance_tags',
      ],
      NOT_YET,
    ), // prettier-ignore
  },
  gcp: {
    project: { check: str },
    project_id: { check: str },
    ssh_proxy_command: { check: proxy },
    ssh_user: { check: str },
    use_metadata_server: { check: bool },
    service_account: { check: str },
    gpu_image: { check: str },
    ...SHARED_IGNORED(['vpc_name', 'subnet_names', 'use_internal_ips', 'force_enable_external_ips'], NETWORK),
    labels: IGNORED("instances carry the task's resources.labels and SkyRun's own labels"),
    ...SHARED_IGNORED(
      [
        'prioritize_reservations', 'specific_reservations', 'managed_instance_group', 'enable_gvnic',
        'enable_gpu_direct', 'placement_policy', 'capabilities', 'remote_identity', 'instance_tags',
      ],
      NOT_YET,
    ), // prettier-ignore
  },
  kubernetes: {
    allowed_contexts: { check: (v) => (v === 'all' ? undefined : strList(v)) },
    namespace: { check: str },
    provision_timeout: { check: (v) => (v === -1 ? undefined : positive(v)) }, // -1: wait indefinitely
    pod_config: { check: mapping },
    ports: { check: str },
    hourly_price: { check: (v) => (typeof v === 'number' && v >= 0 ? undefined : 'a price in USD >= 0') },
    gpu_label: { check: str },
    image: { check: str },
    ...SHARED_IGNORED(
      [
        'context_configs', 'networking', 'custom_metadata', 'autoscaler', 'high_availability', 'kueue', 'quota',
        'dws', 'remote_identity', 'post_provision_runcmd', 'apt_mirrors', 'set_pod_resource_limits', 'pricing',
        'auto_mounts', 'enable_docker', 'allowed_nodes', 'rdma', 'max_inline_command_length',
      ],
      NOT_YET,
    ), // prettier-ignore
  },
  jobs: 'SkyRun runs managed jobs as workflows on its worker, with no controller cluster: jobs.controller resources do not apply',
  serve: 'SkyServe is not supported yet',
  hooks: 'lifecycle hooks are not run yet',
  ...Object.fromEntries(
    [
      'api_server', 'workspaces', 'workspace', 'active_workspace', 'workspace_config', 'admin_policy', 'rbac', 'db',
      'daemons', 'dashboard', 'metrics', 'plugins',
    ].map((k) => [k, "a SkyPilot API server setting; SkyRun has no API server"]),
  ), // prettier-ignore
  ...Object.fromEntries(
    ['docker', 'nvidia_gpus', 'provision', 'logs', 'data'].map((k) => [k, 'SkyRun does not act on it yet']),
  ),
  ...Object.fromEntries(
    ['ssh', 'slurm', 'azure', 'oci', 'vast', 'nebius'].map((k) => [k, `SkyRun has no ${k} settings (yet)`]),
  ),
};

export const CONFIG_SECTIONS: readonly string[] = Object.keys(SECTIONS);

/** Which keys SkyRun acts on (`section.key`), for the README and tests. */
export function usedConfigKeys(): string[] {
  return Object.entries(SECTIONS).flatMap(([s, keys]) =>
    typeof keys === 'string'
      ? s === 'allowed_clouds'
        ? [s]
        : []
      : Object.entries(keys)
          .filter(([, k]) => 'check' in k)
          .map(([k]) => `${s}.${k}`),
  );
}

export interface ConfigLayer {
  file: string;
  values: Record<string, unknown>;
  /** invalid values (the file cannot be used) */
  issues: TaskIssue[];
  /** unknown keys, and keys accepted and ignored: one each */
  warnings: TaskIssue[];
}

/** Reads one config file's text: `{}` for an empty one. */
export function parseConfigFile(text: string, file: string): ConfigLayer {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false });
  const layer: ConfigLayer = { file, values: {}, issues: [], warnings: [] };
  const at = (path: string[]): { line?: number; column?: number } => {
    const node = doc.getIn(path, true);
    const range = isNode(node) ? node.range : undefined;
    const key = path.length && isMap(doc.getIn(path.slice(0, -1), true)) ? keyRange(doc, path) : undefined;
    const pos = key ?? range?.[0];
    if (pos === undefined) return {};
    const p = lc.linePos(pos);
    return { line: p.line, column: p.col };
  };
  if (doc.errors.length) {
    const e = doc.errors[0];
    const p = e.linePos?.[0];
    layer.issues.push({ file, ...(p ? { line: p.line, column: p.col } : {}), field: '', message: e.message.split('\n')[0] });
    return layer;
  }
  const v: unknown = doc.toJS();
  if (v === null || v === undefined) return layer;
  if (!isPlainObject(v)) {
    layer.issues.push({ file, line: 1, column: 1, field: '', message: `expected a mapping of settings, got ${describe(v)}` });
    return layer;
  }
  checkConfig(v, (kind, path, message) => (kind === 'issue' ? layer.issues : layer.warnings).push({ file, ...at(path), field: path.join('.'), message }));
  layer.values = v;
  return layer;
} // prettier-ignore

function keyRange(doc: ReturnType<typeof parseDocument>, path: string[]): number | undefined {
  const parent = doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) return undefined;
  const pair = parent.items.find((p) => isNode(p.key) && String((p.key as { value?: unknown }).value) === path.at(-1));
  return isNode(pair?.key) ? pair.key.range?.[0] : undefined;
}

type Report = (kind: 'issue' | 'warning', path: string[], message: string) => void;

/** Checks a config mapping (a file's, or a task's `config:`) against SECTIONS. */
export function checkConfig(v: Record<string, unknown>, report: Report, prefix: string[] = []): void {
  for (const [section, value] of Object.entries(v)) {
    const spec = Object.prototype.hasOwnProperty.call(SECTIONS, section) ? SECTIONS[section] : undefined;
    const path = [...prefix, section];
    if (spec === undefined) {
      report('warning', path, unknownMessage('key', section, CONFIG_SECTIONS, 'ignored'));
    } else if (section === 'allowed_clouds') {
      const bad = clouds(value);
      if (bad) report('issue', path, `expected ${bad}, got ${describe(value)}`);
    } else if (typeof spec === 'string') {
      report('warning', path, `accepted and ignored: ${spec}`);
    } else if (value !== null && !isPlainObject(value)) {
      report('issue', path, `expected a mapping of ${section} settings, got ${describe(value)}`);
    } else {
      for (const [key, sub] of Object.entries(value ?? {})) {
        const k = Object.prototype.hasOwnProperty.call(spec, key) ? spec[key] : undefined;
        if (!k) report('warning', [...path, key], unknownMessage('key', key, Object.keys(spec), 'ignored'));
        else if ('ignored' in k) report('warning', [...path, key], `accepted and ignored: ${k.ignored}`);
        else if (sub !== null || key === 'ssh_proxy_command') {
          const bad = k.check(sub);
          if (bad) report('issue', [...path, key], `expected ${bad}, got ${describe(sub)}`);
        }
      }
    }
  }
}

/** `over` merged into `base`: mappings key by key, anything else (lists included) replaced. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeConfig(b, v) : v;
  }
  return out;
}

/**
 * SkyPilot's names as SkyRun's (gcp.project_id -> gcp.project), so one layer can be merged over
 * the other. SkyRun's own name wins when a layer gives both.
 */
export function normalizeConfig(v: Record<string, unknown>): Record<string, unknown> {
  const gcp = v.gcp;
  if (!isPlainObject(gcp) || gcp.project_id === undefined || gcp.project !== undefined) return v;
  return { ...v, gcp: { ...gcp, project: gcp.project_id } };
}

/** The settings of several layers, lowest precedence first (SkyPilot's file, then SkyRun's). */
export function mergeLayers(layers: readonly ConfigLayer[]): Record<string, unknown> {
  return layers.reduce<Record<string, unknown>>((acc, l) => mergeConfig(acc, normalizeConfig(l.values)), {});
}
