// The task's `resources`: one small parser per resources field, in a table
// keyed by the field's name (the table's order is the order messages list the
// fields), then any_of / ordered alternatives merged with the shared fields and
// expanded into launch candidates (one per accelerator alternative).

import { isMap, isSeq } from 'yaml';
import { parseAccelerators } from './accelerators';
import { normalizeCloud, parseInfra, parseLocationPart } from './infra';
import { describe, fail, isPlainObject, ok } from './parsed';
import type { Parsed } from './parsed';
import {
  parseAutostop,
  parseDiskSize,
  parseDiskTier,
  JOB_RECOVERY_KEYS,
  parseJobRecovery,
  parseNetworkTier,
  parsePorts,
  parseQuantity,
} from './values';
import type {
  AcceleratorRequest,
  AutostopSpec,
  JobRecoverySpec,
  Location,
  PortRange,
  Quantity,
  Resources,
} from './types';
import { lookup } from './fields';
import { warnIgnored } from './ignored-fields';
import type { Ctx, Entry } from './yaml';
import { checkWholeNumbers, entries, isNullNode, join, scalarString, unknownField } from './yaml';

interface LocPart {
  kind: 'infra' | 'fields';
  value: Location;
  hasCloud: boolean;
}

/** The fields one resources mapping gave; a key present with value undefined means explicitly unset. */
interface PartialRes {
  loc?: LocPart;
  accelerators?: AcceleratorRequest[];
  acceleratorArgs?: Record<string, unknown>;
  cpus?: Quantity;
  memory?: Quantity;
  instanceType?: string;
  useSpot?: boolean;
  jobRecovery?: JobRecoverySpec;
  diskSizeGb?: number;
  diskTier?: Resources['diskTier'];
  networkTier?: Resources['networkTier'];
  ports?: PortRange[];
  imageId?: string | Record<string, string>;
  labels?: Record<string, string>;
  autostop?: AutostopSpec;
  priority?: number;
  maxHourlyCost?: number;
  volumes?: unknown;
}

interface Alternatives {
  kind: 'any_of' | 'ordered';
  node: unknown;
  field: string;
  keyNode: unknown;
}

/** What the field parsers of one resources mapping build up. */
interface MapState {
  ctx: Ctx;
  part: PartialRes;
  isAlternative: boolean;
  alternatives?: Alternatives;
  infraEntry?: Entry;
  /** cloud / region / zone entries, and the location they give when all are good. */
  locFields: Entry[];
  fieldLoc: Location;
  fieldLocOk: boolean;
  recoveryEntry?: Entry;
}

/** Parses one field: `v` is its value as plain JS, `at` the node to point issues at. */
type ResourceFieldParser = (s: MapState, e: Entry, v: unknown, at: unknown) => void;

/** A field whose value one Parsed-returning function checks; null means "not given" unless `keepNull`. */
function valueField<K extends keyof PartialRes>(
  key: K,
  parse: (v: unknown) => Parsed<PartialRes[K]>,
  keepNull = false,
): ResourceFieldParser {
  return (s, e, v, at) => {
    if (v === null && !keepNull) return;
    const r = parse(v);
    if (s.ctx.report(at, e.field, r)) s.part[key] = r.value;
  };
}

const ACCELERATOR_ARGS_FIELDS = ['runtime_version', 'tpu_name', 'tpu_vm', 'gcp_queued_resource'];

const parseInfraField: ResourceFieldParser = (s, e, v, at) => {
  s.infraEntry = e;
  if (v === null) return;
  const r = parseInfra(v);
  if (s.ctx.report(at, e.field, r)) s.part.loc = { kind: 'infra', value: r.value, hasCloud: true };
};

const parseCloudField: ResourceFieldParser = (s, e, v, at) => {
  s.locFields.push(e);
  if (v === null || v === '*') return;
  const r = normalizeCloud(v);
  if (s.ctx.report(at, e.field, r)) s.fieldLoc = { ...s.fieldLoc, cloud: r.value };
  else s.fieldLocOk = false;
};

function locationPartField(key: 'region' | 'zone'): ResourceFieldParser {
  return (s, e, v, at) => {
    s.locFields.push(e);
    const r = parseLocationPart(v, key);
    if (s.ctx.report(at, e.field, r)) {
      if (r.value !== undefined) s.fieldLoc = { ...s.fieldLoc, [key]: r.value };
    } else s.fieldLocOk = false;
  };
}

const parseAcceleratorArgs: ResourceFieldParser = (s, e, v, at) => {
  if (v === null) return;
  if (!isPlainObject(v)) {
    s.ctx.add(at, e.field, `expected a mapping {${ACCELERATOR_ARGS_FIELDS.join(', ')}}, got ${describe(v)}`);
    return;
  }
  let good = true;
  for (const sub of entries(s.ctx, e.value, e.field)) {
    if (!ACCELERATOR_ARGS_FIELDS.includes(sub.key)) {
      unknownField(s.ctx, sub, ACCELERATOR_ARGS_FIELDS, 'accelerator_args');
      good = false;
    }
  }
  if (good) {
    s.part.acceleratorArgs = v;
    warnIgnored(s.ctx, e, 'resources.accelerator_args');
  }
};

/** job_recovery and its legacy alias spot_recovery: only one of them. */
const parseRecoveryField: ResourceFieldParser = (s, e, v, at) => {
  if (s.recoveryEntry) {
    s.ctx.add(e.keyNode, e.field, `give only one of job_recovery and spot_recovery (a legacy alias), not both`);
    return;
  }
  s.recoveryEntry = e;
  if (v === null) return;
  if (isPlainObject(v)) {
    // SkyPilot's client passes unknown keys through (plugins' recovery fields): ignored here, with a warning
    for (const sub of entries(s.ctx, e.value, e.field))
      if (!JOB_RECOVERY_KEYS.includes(sub.key)) warnIgnored(s.ctx, sub, 'resources.job_recovery.*');
    v = Object.fromEntries(Object.entries(v).filter(([k]) => JOB_RECOVERY_KEYS.includes(k)));
  }
  const r = parseJobRecovery(v);
  if (s.ctx.report(at, e.field, r)) s.part.jobRecovery = r.value;
};

const parseImageId: ResourceFieldParser = (s, e, v, at) => {
  if (v === null) return;
  if (typeof v === 'string' && v.trim() !== '') {
    s.part.imageId = v.trim();
  } else if (isPlainObject(v) && Object.keys(v).length > 0) {
    const images: Record<string, string> = {};
    let good = true;
    for (const sub of entries(s.ctx, e.value, e.field)) {
      const id = s.ctx.js(sub.value);
      if (typeof id !== 'string' || id.trim() === '') {
        s.ctx.add(
          sub.value ?? sub.keyNode,
          sub.field,
          `expected an image id string for region '${sub.key}', got ${describe(id)}`,
        );
        good = false;
      } else images[sub.key] = id.trim();
    }
    if (good) s.part.imageId = images;
  } else {
    s.ctx.add(
      at,
      e.field,
      `expected an image id string (like "ami-0123…" or "docker:ubuntu:22.04") or a mapping of region to image id, got ${describe(v)}`,
    );
  }
};

const parseLabels: ResourceFieldParser = (s, e, v, at) => {
  if (v === null) return;
  if (!isMap(e.value)) {
    s.ctx.add(at, e.field, `expected a mapping of label name to string value, got ${describe(v)}`);
    return;
  }
  const labels: Record<string, string> = {};
  let good = true;
  for (const sub of entries(s.ctx, e.value, e.field)) {
    const str = scalarString(s.ctx, sub.value);
    if (typeof str !== 'string') {
      s.ctx.add(
        sub.value ?? sub.keyNode,
        sub.field,
        `expected a string value for label '${sub.key}', got ${describe(s.ctx.js(sub.value))}`,
      );
      good = false;
    } else labels[sub.key] = str;
  }
  if (good) s.part.labels = labels;
};

/** any_of / ordered: recorded here, parsed by parseResources once the shared fields are known. */
const parseAlternativesField: ResourceFieldParser = (s, e) => {
  const kind = e.key as Alternatives['kind'];
  if (s.isAlternative) {
    s.ctx.add(
      e.keyNode,
      e.field,
      `nested ${kind} is not supported; each alternative must be a flat mapping of resource fields`,
    );
    return;
  }
  if (s.alternatives) {
    s.ctx.add(e.keyNode, e.field, `use either any_of or ordered, not both (found ${s.alternatives.kind} too)`);
    return;
  }
  s.alternatives = { kind, node: e.value, field: e.field, keyNode: e.keyNode };
};

function instanceType(v: unknown): Parsed<string> {
  if (typeof v !== 'string' || v.trim() === '' || /\s/.test(v.trim()))
    return fail(`expected an instance type name like "p4d.24xlarge" or "n2-standard-8", got ${describe(v)}`);
  return ok(v.trim());
}

/** A field SkyPilot takes and SkyRun ignores (with a warning, core/task/ignored-fields.ts), once it has SkyPilot's type. */
function ignoredField(good: (v: unknown) => boolean, expected: string): ResourceFieldParser {
  return (s, e, v, at) => {
    if (v === null) return;
    if (!good(v)) s.ctx.add(at, e.field, `expected ${expected}, got ${describe(v)}`);
    else warnIgnored(s.ctx, { field: `resources.${e.key}`, keyNode: e.keyNode });
  };
}

/** A field whose numbers must be whole and in decimal digits (`8080`, not `8080.0`), then `parse`. */
function wholeNumbers(parse: ResourceFieldParser): ResourceFieldParser {
  return (s, e, v, at) => {
    if (checkWholeNumbers(s.ctx, e.value, e.field)) parse(s, e, v, at);
  };
}

/** The resources fields, in the order messages list them. */
const RESOURCE_FIELD_PARSERS: Readonly<Record<string, ResourceFieldParser>> = {
  infra: parseInfraField,
  cloud: parseCloudField,
  region: locationPartField('region'),
  zone: locationPartField('zone'),
  accelerators: valueField('accelerators', parseAccelerators, true),
  accelerator_args: parseAcceleratorArgs,
  cpus: valueField('cpus', (v) => parseQuantity(v, 'cpus')),
  memory: valueField('memory', (v) => parseQuantity(v, 'memory')),
  instance_type: valueField('instanceType', instanceType),
  use_spot: valueField('useSpot', (v) =>
    typeof v === 'boolean' ? ok(v) : fail(`expected true or false, got ${describe(v)}`),
  ),
  spot_recovery: wholeNumbers(parseRecoveryField),
  job_recovery: wholeNumbers(parseRecoveryField),
  disk_size: wholeNumbers(valueField('diskSizeGb', parseDiskSize)),
  disk_tier: valueField('diskTier', parseDiskTier),
  network_tier: valueField('networkTier', parseNetworkTier),
  ports: wholeNumbers(valueField('ports', parsePorts, true)),
  image_id: parseImageId,
  labels: parseLabels,
  autostop: wholeNumbers((s, e, v, at) => {
    valueField('autostop', parseAutostop, true)(s, e, v, at); // undefined = explicitly off
    if (isPlainObject(v))
      for (const sub of entries(s.ctx, e.value, e.field))
        if (['wait_for', 'hook', 'hook_timeout'].includes(sub.key))
          warnIgnored(s.ctx, sub, `resources.autostop.${sub.key}`);
  }),
  any_of: parseAlternativesField,
  ordered: parseAlternativesField,
  priority: wholeNumbers(
    valueField('priority', (v) =>
      typeof v === 'number' && Number.isInteger(v) ? ok(v) : fail(`expected an integer priority, got ${describe(v)}`),
    ),
  ),
  max_hourly_cost: valueField('maxHourlyCost', (v) =>
    typeof v === 'number' && v > 0
      ? ok(v)
      : fail(`expected a positive hourly cost in dollars like 12.5, got ${describe(v)}`),
  ),
  volumes: valueField('volumes', (v) =>
    Array.isArray(v) || isPlainObject(v)
      ? ok(v)
      : fail(`expected a list of volumes {path, name, disk_size, ...}, got ${describe(v)}`),
  ),
  local_disk: ignoredField((v) => typeof v === 'string', 'a string like "nvme:2"'),
  ephemeral_storage: wholeNumbers(ignoredField((v) => parseDiskSize(v).ok, 'a size like 100 or "100GB"')),
  priority_class: ignoredField((v) => typeof v === 'string', 'a priority class name'),
  gpus: valueField('accelerators', parseAccelerators, true), // SkyPilot's alias (RESOURCE_CONFIG_ALIASES)
  _no_missing_accel_warnings: ignoredField((v) => typeof v === 'boolean', 'true or false'),
  _docker_login_config: ignoredField(isPlainObject, 'a mapping {username, password, server}'),
  _is_image_managed: ignoredField((v) => typeof v === 'boolean', 'true or false'),
  _requires_fuse: ignoredField((v) => typeof v === 'boolean', 'true or false'),
  _cluster_config_overrides: ignoredField(isPlainObject, 'a mapping'),
};

/** The resources fields messages list (SkyPilot's internal `_` fields are accepted but not suggested). */
export const RESOURCE_FIELDS: readonly string[] = Object.keys(RESOURCE_FIELD_PARSERS).filter((k) => !k.startsWith('_'));

function parseResourceMap(
  ctx: Ctx,
  node: unknown,
  prefix: string,
  isAlternative: boolean,
): { part: PartialRes; alternatives?: Alternatives } {
  const s: MapState = { ctx, part: {}, isAlternative, locFields: [], fieldLoc: {}, fieldLocOk: true };
  const all = entries(ctx, node, prefix);
  const gpus = all.find((e) => e.key === 'gpus');
  if (gpus && all.some((e) => e.key === 'accelerators'))
    ctx.add(gpus.keyNode, gpus.field, 'give only one of accelerators and gpus (its alias), not both');
  for (const e of all) {
    const v = ctx.js(e.value);
    const parse = lookup(RESOURCE_FIELD_PARSERS, e.key);
    if (parse) parse(s, e, v, e.value ?? e.keyNode);
    else unknownField(ctx, e, RESOURCE_FIELDS, 'resources');
  }
  if (s.infraEntry && s.locFields.length > 0) {
    const names = s.locFields.map((x) => x.key).join('/');
    ctx.add(
      s.locFields[0].keyNode,
      s.locFields[0].field,
      `use either infra or ${names}, not both; e.g. infra: aws/us-east-1/us-east-1a`,
    );
  } else if (s.locFields.length > 0 && s.fieldLocOk) {
    s.part.loc = { kind: 'fields', value: s.fieldLoc, hasCloud: s.locFields.some((x) => x.key === 'cloud') };
  }
  return s.alternatives ? { part: s.part, alternatives: s.alternatives } : { part: s.part };
}

export function defaultResources(): Resources {
  return { infra: {}, useSpot: false, ports: [], labels: {} };
}

export function parseResources(ctx: Ctx, node: unknown): { candidates: Resources[]; ordered: boolean } {
  if (isNullNode(node)) return { candidates: [defaultResources()], ordered: false };
  if (!isMap(node)) {
    ctx.add(
      node,
      'resources',
      `expected a mapping of resource fields (infra, accelerators, cpus, memory, ...), got ${describe(ctx.js(node))}`,
    );
    return { candidates: [defaultResources()], ordered: false };
  }
  const top = parseResourceMap(ctx, node, 'resources', false);
  if (!top.alternatives) return { candidates: dedupe(expand(top.part)), ordered: false };

  const alt = top.alternatives;
  const ordered = alt.kind === 'ordered';
  const list = alt.node;
  if (!isSeq(list) || list.items.length === 0) {
    const v = ctx.js(list);
    const got = Array.isArray(v) ? 'an empty list' : describe(v);
    ctx.add(
      list ?? alt.keyNode,
      alt.field,
      `expected a non-empty list of resource mappings (each like {infra: aws, accelerators: A100:8}), got ${got}`,
    );
    return { candidates: [defaultResources()], ordered };
  }
  const candidates: Resources[] = [];
  list.items.forEach((item, i) => {
    const itemNode = ctx.deref(item);
    const field = join(alt.field, i);
    if (!isMap(itemNode)) {
      ctx.add(
        itemNode,
        field,
        `expected a mapping of resource fields (infra, accelerators, cpus, ...), got ${describe(ctx.js(itemNode))}`,
      );
      return;
    }
    const r = parseResourceMap(ctx, itemNode, field, true);
    candidates.push(...expand(mergeParts(top.part, r.part)));
  });
  return { candidates: candidates.length > 0 ? dedupe(candidates) : [defaultResources()], ordered };
}

function mergeParts(top: PartialRes, alt: PartialRes): PartialRes {
  const merged: PartialRes = { ...top, ...alt };
  if (top.loc && alt.loc && alt.loc.kind === 'fields' && !alt.loc.hasCloud && top.loc.value.cloud !== undefined) {
    // `cloud: aws` shared, `region: ...` per alternative.
    merged.loc = { kind: 'fields', value: { cloud: top.loc.value.cloud, ...alt.loc.value }, hasCloud: true };
  }
  return merged;
}

function expand(p: PartialRes): Resources[] {
  const base = defaultResources();
  if (p.loc) base.infra = { ...p.loc.value };
  if (p.cpus) base.cpus = p.cpus;
  if (p.memory) base.memory = p.memory;
  if (p.instanceType !== undefined) base.instanceType = p.instanceType;
  if (p.useSpot !== undefined) base.useSpot = p.useSpot;
  if (p.diskSizeGb !== undefined) base.diskSizeGb = p.diskSizeGb;
  if (p.diskTier !== undefined) base.diskTier = p.diskTier;
  if (p.networkTier !== undefined) base.networkTier = p.networkTier;
  if (p.ports) base.ports = p.ports;
  if (p.imageId !== undefined) base.imageId = p.imageId;
  if (p.labels) base.labels = p.labels;
  if (p.autostop) base.autostop = p.autostop;
  if (p.jobRecovery) base.jobRecovery = p.jobRecovery;
  if (p.acceleratorArgs) base.acceleratorArgs = p.acceleratorArgs;
  if (p.maxHourlyCost !== undefined) base.maxHourlyCost = p.maxHourlyCost;
  if (p.priority !== undefined) base.priority = p.priority;
  if (p.volumes !== undefined) base.volumes = p.volumes;
  const accs = p.accelerators ?? [];
  if (accs.length === 0) return [base];
  return accs.map((a) => ({ ...clone(base), accelerator: { ...a } }));
}

export function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

export function stableKey(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableKey).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableKey(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

export function dedupe(rs: Resources[]): Resources[] {
  const seen = new Set<string>();
  return rs.filter((r) => {
    const k = stableKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
