// The task's top-level fields (everything but resources, see resource-fields.ts):
// one small parser per field, in a table keyed by the field's name. The
// table's order is the order the fields are listed in messages.

import { isMap, isScalar, isSeq } from 'yaml';
import { describe, isPlainObject } from './parsed';
import { parseEnum, parseNumNodes as numNodes } from './values';
import { scriptTooBig } from './input';
import type { TaskSpec } from './types';
import { ENV_NAME_RE, validateName } from './types';
import type { Ctx, Entry } from './yaml';
import { checkWholeNumbers, entries, isNullNode, scalarString, unknownField } from './yaml';
import { warnIgnored } from './ignored-fields';

/** What the field parsers fill in: the spec, and the resources node (parsed after the other fields). */
export interface TaskDraft {
  spec: TaskSpec;
  resourcesNode: unknown;
  /** references to SkyPilot's secret store (`secrets: [secrets:NAME]`, managed_secrets): required secrets here */
  secretRefs: string[];
}

type TaskFieldParser = (ctx: Ctx, e: Entry, draft: TaskDraft) => void;

/** Own property lookup in a parser table (so keys like `toString` are unknown fields, not methods). */
export function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

function parseName(ctx: Ctx, e: Entry, { spec }: TaskDraft): void {
  if (isNullNode(e.value)) return;
  const v = ctx.js(e.value);
  if (typeof v !== 'string') {
    ctx.add(e.value, e.field, `expected a name string like "train-llama", got ${describe(v)}`);
    return;
  }
  const err = validateName(v);
  if (err) ctx.add(e.value, e.field, err);
  else spec.name = v;
}

function parseWorkdir(ctx: Ctx, e: Entry, { spec }: TaskDraft): void {
  const v = ctx.js(e.value);
  if (v === null) return;
  if (typeof v === 'string') {
    if (v.trim() === '')
      ctx.add(e.value, e.field, 'expected a local directory like "." or {url, ref}, got an empty string');
    else spec.workdir = v;
    return;
  }
  if (!isPlainObject(v)) {
    ctx.add(e.value, e.field, `expected a local directory like "." or a git repository {url, ref}, got ${describe(v)}`);
    return;
  }
  let ok = true;
  for (const sub of entries(ctx, e.value, e.field)) {
    if (sub.key !== 'url' && sub.key !== 'ref') {
      unknownField(ctx, sub, ['url', 'ref'], 'workdir');
      ok = false;
    }
  }
  if (typeof v.url !== 'string' || v.url.trim() === '') {
    ctx.add(e.value, `${e.field}.url`, `expected a git repository URL string, got ${describe(v.url)}`);
    ok = false;
  }
  if (v.ref !== undefined && v.ref !== null && typeof v.ref !== 'string') {
    ctx.add(e.value, `${e.field}.ref`, `expected a branch, tag or commit string, got ${describe(v.ref)}`);
    ok = false;
  }
  if (ok) spec.workdir = typeof v.ref === 'string' ? { url: v.url as string, ref: v.ref } : { url: v.url as string };
}

function parseNumNodes(ctx: Ctx, e: Entry, { spec }: TaskDraft): void {
  if (!checkWholeNumbers(ctx, e.value, e.field)) return;
  const r = numNodes(ctx.js(e.value));
  if (ctx.report(e.value ?? e.keyNode, e.field, r)) spec.numNodes = r.value;
}

function parseEnvMap(
  ctx: Ctx,
  e: Entry,
  what: string,
  skip: (key: string) => boolean = () => false,
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (e.value === null) return out;
  if (!isMap(e.value)) {
    ctx.add(e.value, e.field, `expected a mapping of NAME: value, got ${describe(ctx.js(e.value))}`);
    return out;
  }
  for (const sub of entries(ctx, e.value, e.field)) {
    if (skip(sub.key)) continue;
    if (!ENV_NAME_RE.test(sub.key)) {
      ctx.add(
        sub.keyNode,
        sub.field,
        `invalid ${what} name '${sub.key}'; expected letters, digits and '_', not starting with a digit`,
      );
      continue;
    }
    const s = scalarString(ctx, sub.value);
    if (s === undefined) {
      ctx.add(
        sub.value,
        sub.field,
        `expected a string value (or null to require it at launch), got ${describe(ctx.js(sub.value))}; quote it to pass structured text`,
      );
      continue;
    }
    out[sub.key] = s;
  }
  return out;
}

function scriptValue(ctx: Ctx, e: Entry): string | undefined {
  const n = e.value;
  if (n === null) return undefined;
  if (isScalar(n) && n.value === null) return undefined;
  if (isScalar(n) && typeof n.value === 'string') return n.value;
  ctx.add(
    n,
    e.field,
    `expected a shell script string (use '${e.key}: |' for several lines), got ${describe(ctx.js(n))}`,
  );
  return undefined;
}

/** A mapping field kept as written (config, service). */
function mappingInto(key: 'config' | 'service'): TaskFieldParser {
  return (ctx, e, { spec }) => {
    const v = ctx.js(e.value);
    if (v === null) return;
    if (!isPlainObject(v)) ctx.add(e.value, e.field, `expected a mapping, got ${describe(v)}`);
    else spec[key] = v;
  };
}

/** A field accepted for compatibility and ignored (with a warning), once it has SkyPilot's type. */
function ignored(type: 'mapping' | 'list' | 'boolean' | 'string'): TaskFieldParser {
  return (ctx, e) => {
    const v = ctx.js(e.value);
    if (v === null) return;
    const good = type === 'mapping' ? isPlainObject(v) : type === 'list' ? Array.isArray(v) : typeof v === type;
    const what =
      type === 'mapping' || type === 'list' ? `a ${type}` : type === 'boolean' ? 'true or false' : 'a string';
    if (!good) ctx.add(e.value, e.field, `expected ${what}, got ${describe(v)}`);
    else warnIgnored(ctx, e);
  };
}

/** `scope.NAME` (personal., workspace., global.) of SkyPilot's secret store -> NAME. */
function secretRefName(raw: string): string {
  return raw.replace(/^secrets:/, '').replace(/^(personal|workspace|global)\./, '');
}

function addSecretRef(ctx: Ctx, node: unknown, field: string, raw: string, draft: TaskDraft): void {
  const name = secretRefName(raw);
  const p = ctx.pos(node);
  if (p && !ctx.positions.has(`secrets.${name}`)) ctx.positions.set(`secrets.${name}`, p); // for launch-check messages
  if (ENV_NAME_RE.test(name)) draft.secretRefs.push(name);
  else
    ctx.add(node, field, `invalid secret name '${name}'; expected letters, digits and '_', not starting with a digit`);
}

/**
 * `secrets`: NAME: value (null: given with --secret), or SkyPilot's references to its secret store,
 * `secrets:NAME` (a list of them, or keys with a null value). SkyRun has no secret store: a
 * reference is a secret required at launch (--secret NAME).
 */
function parseSecrets(ctx: Ctx, e: Entry, draft: TaskDraft): void {
  if (isSeq(e.value)) {
    e.value.items.forEach((item, i) => {
      const v = ctx.js(item);
      const field = `${e.field}[${i}]`;
      if (typeof v === 'string' && v.startsWith('secrets:')) addSecretRef(ctx, item, field, v, draft);
      else ctx.add(item, field, `expected a secret reference like secrets:HF_TOKEN, got ${describe(v)}`);
    });
    return;
  }
  const refs = isMap(e.value) ? entries(ctx, e.value, e.field).filter((x) => x.key.startsWith('secrets:')) : [];
  for (const r of refs) {
    if (ctx.js(r.value) !== null)
      ctx.add(r.value, r.field, 'a secret reference (secrets:NAME) takes no value; give null');
    else addSecretRef(ctx, r.keyNode, r.field, r.key, draft);
  }
  draft.spec.secrets = parseEnvMap(ctx, e, 'secret', (k) => k.startsWith('secrets:'));
}

/** SkyPilot's managed_secrets: NAME, or {NAME: {mount_path}}; each a secret required at launch. */
function parseManagedSecrets(ctx: Ctx, e: Entry, draft: TaskDraft): void {
  if (isNullNode(e.value)) return;
  if (!isSeq(e.value)) {
    ctx.add(e.value, e.field, `expected a list of secret names, got ${describe(ctx.js(e.value))}`);
    return;
  }
  e.value.items.forEach((item, i) => {
    const field = `${e.field}[${i}]`;
    const v = ctx.js(item);
    if (typeof v === 'string') return addSecretRef(ctx, item, field, v, draft);
    if (!isPlainObject(v) || Object.keys(v).length !== 1) {
      ctx.add(item, field, `expected a secret name, or {NAME: {mount_path: PATH}}, got ${describe(v)}`);
      return;
    }
    const [name, opts] = Object.entries(v)[0];
    addSecretRef(ctx, item, field, name, draft);
    if (isPlainObject(opts) && opts.mount_path !== undefined)
      warnIgnored(ctx, { field: `${field}.mount_path`, keyNode: item }, 'managed_secrets.*.mount_path');
  });
}

function parseVolumes(ctx: Ctx, e: Entry, { spec }: TaskDraft): void {
  const v = ctx.js(e.value);
  if (v === null) return;
  if (isPlainObject(v)) spec.volumes = v;
  else if (Array.isArray(v)) spec.volumes = { list: v };
  else ctx.add(e.value, e.field, `expected a mapping of mount path to volume name, got ${describe(v)}`);
}

function script(key: 'setup' | 'run'): TaskFieldParser {
  return (ctx, e, { spec }) => {
    const s = scriptValue(ctx, e);
    const big = s === undefined ? undefined : scriptTooBig(s);
    if (big) ctx.add(e.value, e.field, big);
    else if (s !== undefined) spec[key] = s;
  };
}

/** The top-level task fields, in the order messages list them. */
const TASK_FIELD_PARSERS: Readonly<Record<string, TaskFieldParser>> = {
  name: parseName,
  workdir: parseWorkdir,
  num_nodes: parseNumNodes,
  resources: (_ctx, e, draft) => {
    draft.resourcesNode = e.value;
  },
  envs: (ctx, e, { spec }) => {
    spec.envs = parseEnvMap(ctx, e, 'environment variable');
  },
  secrets: parseSecrets,
  file_mounts: (ctx, e, { spec }) => {
    spec.fileMounts = parseFileMounts(ctx, e);
  },
  setup: script('setup'),
  run: script('run'),
  config: mappingInto('config'),
  service: mappingInto('service'),
  volumes: parseVolumes,
  managed_secrets: parseManagedSecrets,
  event_callback: ignored('string'),
  pool: ignored('mapping'),
  inputs: ignored('mapping'),
  outputs: ignored('mapping'),
  file_mounts_mapping: ignored('mapping'),
  volume_mounts: ignored('list'),
  api_server_access: ignored('boolean'),
  _metadata: ignored('mapping'),
};

/** The task fields messages list (SkyPilot's internal `_` fields are accepted but not suggested). */
export const TASK_FIELDS: readonly string[] = Object.keys(TASK_FIELD_PARSERS).filter((k) => !k.startsWith('_'));

/** Parses every top-level field of `root` into `draft`, reporting unknown fields. */
export function parseTaskFields(ctx: Ctx, root: unknown, draft: TaskDraft): void {
  for (const e of entries(ctx, root, '')) {
    const parse = lookup(TASK_FIELD_PARSERS, e.key);
    if (parse) parse(ctx, e, draft);
    else unknownField(ctx, e, TASK_FIELDS, 'task');
  }
}

function parseFileMounts(ctx: Ctx, e: Entry): Record<string, string | Record<string, unknown>> {
  const out: Record<string, string | Record<string, unknown>> = {};
  if (e.value === null) return out;
  if (!isMap(e.value)) {
    ctx.add(
      e.value,
      e.field,
      `expected a mapping of remote path to local path, URI or storage object, got ${describe(ctx.js(e.value))}`,
    );
    return out;
  }
  const expected =
    'expected a local path, a cloud URI like s3://bucket/path, or a storage object {name, source, store, mode}';
  for (const sub of entries(ctx, e.value, e.field)) {
    if (sub.key.trim() === '') {
      ctx.add(sub.keyNode, sub.field, 'expected a remote path like /data or ~/data as the key');
      continue;
    }
    const s = scalarString(ctx, sub.value);
    if (s === null) {
      ctx.add(sub.value ?? sub.keyNode, sub.field, `${expected}, got null`);
      continue;
    }
    if (typeof s === 'string') {
      if (s.trim() === '') ctx.add(sub.value, sub.field, `${expected}, got an empty string`);
      else out[sub.key] = s;
      continue;
    }
    if (!isMap(sub.value)) {
      ctx.add(sub.value, sub.field, `${expected}, got ${describe(ctx.js(sub.value))}`);
      continue;
    }
    const storage = parseStorage(ctx, sub);
    if (storage) out[sub.key] = storage;
  }
  return out;
}

export const STORAGE_STORES = ['s3', 'gcs', 'azure', 'r2', 'ibm', 'oci', 'nebius'] as const;
export const STORAGE_MODES = ['MOUNT', 'COPY', 'MOUNT_CACHED'] as const;

/** Parses one storage-object field into `obj`; false when it reported an issue. */
type StorageFieldParser = (ctx: Ctx, f: Entry, v: unknown, obj: Record<string, unknown>) => boolean;

function storageEnum(allowed: readonly string[], what: string): StorageFieldParser {
  return (ctx, f, v, obj) => {
    if (typeof v === 'string' && /\$\{?[A-Za-z_]/.test(v)) {
      obj[f.key] = v; // an env reference (`store: $STORE`): checked once substituted (core/task/storage.ts)
      return true;
    }
    const r = parseEnum(v, allowed, what);
    if (!ctx.report(f.value ?? f.keyNode, f.field, r)) return false;
    obj[f.key] = r.value;
    return true;
  };
}

const storageBoolean: StorageFieldParser = (ctx, f, v, obj) => {
  if (typeof v !== 'boolean') {
    ctx.add(f.value ?? f.keyNode, f.field, `expected true or false, got ${describe(v)}`);
    return false;
  }
  obj[f.key] = v;
  return true;
};

/** A storage-object field SkyPilot takes and SkyRun ignores (with a warning), once it has SkyPilot's type. */
function storageIgnored(type: 'mapping' | 'string' | 'boolean'): StorageFieldParser {
  return (ctx, f, v) => {
    if (v === null) return true;
    const good = type === 'mapping' ? isPlainObject(v) : typeof v === type;
    if (!good) {
      ctx.add(
        f.value ?? f.keyNode,
        f.field,
        `expected ${type === 'mapping' ? 'a mapping' : `a ${type}`}, got ${describe(v)}`,
      );
      return false;
    }
    warnIgnored(ctx, f);
    return true;
  };
}

/** The storage-object fields; those starting with '_' are internal and left out of messages. */
const STORAGE_FIELD_PARSERS: Readonly<Record<string, StorageFieldParser>> = {
  name: (ctx, f, v, obj) => {
    if (typeof v !== 'string' || v.trim() === '') {
      ctx.add(f.value ?? f.keyNode, f.field, `expected a bucket name string, got ${describe(v)}`);
      return false;
    }
    obj.name = v;
    return true;
  },
  source: (ctx, f, v, obj) => {
    const good =
      typeof v === 'string'
        ? v.trim() !== ''
        : Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string');
    if (!good) {
      ctx.add(f.value ?? f.keyNode, f.field, `expected a local path, a URI or a list of them, got ${describe(v)}`);
      return false;
    }
    obj.source = v;
    return true;
  },
  store: storageEnum(STORAGE_STORES, 'store'),
  persistent: storageBoolean,
  mode: storageEnum(STORAGE_MODES, 'storage mode'),
  config: storageIgnored('mapping'),
  mount_options: storageIgnored('string'),
  type: storageIgnored('string'),
  _is_sky_managed: storageIgnored('boolean'),
  _force_delete: storageBoolean,
  _bucket_sub_path: (_ctx, f, v, obj) => {
    obj[f.key] = v;
    return true;
  },
};
const STORAGE_FIELDS = Object.keys(STORAGE_FIELD_PARSERS).filter((k) => !k.startsWith('_'));

function parseStorage(ctx: Ctx, e: Entry): Record<string, unknown> | undefined {
  const obj: Record<string, unknown> = {};
  let ok = true;
  for (const f of entries(ctx, e.value, e.field)) {
    const v = ctx.js(f.value);
    const parse = lookup(STORAGE_FIELD_PARSERS, f.key);
    if (!parse) unknownField(ctx, f, STORAGE_FIELDS, 'storage object');
    if (!parse || !parse(ctx, f, v, obj)) ok = false;
  }
  if (ok && obj.name === undefined && obj.source === undefined) {
    ctx.add(
      e.value,
      e.field,
      'a storage object needs a name (an existing bucket) or a source (data to upload), or both',
    );
    ok = false;
  }
  return ok ? obj : undefined;
}
