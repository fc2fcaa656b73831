// Task YAML: types, parser/validator, CLI overrides and launch checks.
// Pure TypeScript (plus the `yaml` package); no Node built-ins, so it is safe to
// import from Temporal workflows.
//
// The accepted YAML is SkyPilot's task spec (see reference/skypilot.md §1).
// Every problem found becomes a TaskIssue carrying the line and column of the
// offending node (the key for unknown fields, the value for bad values), and
// parseTask reports all of them at once in one TaskValidationError.

import { LineCounter, isAlias, isMap, isNode, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import {
  AcceleratorRequest,
  AutostopSpec,
  JobRecoverySpec,
  Location,
  Parsed,
  PortRange,
  Quantity,
  describe,
  normalizeCloud,
  parseAccelerators,
  parseAutostop,
  parseDiskSize,
  parseDiskTier,
  parseEnum,
  parseInfra,
  parseJobRecovery,
  parseLocationPart,
  parseNetworkTier,
  parsePorts,
  parseQuantity,
} from './resources';
import { unknownMessage } from './suggest';

export type { AcceleratorRequest, AutostopSpec, JobRecoverySpec, Location, PortRange, Quantity } from './resources';

// ---------------------------------------------------------------------------
// Types

/** ONE launch candidate, after any_of / ordered / accelerator-list expansion. */
export interface Resources {
  infra: Location;
  accelerator?: AcceleratorRequest;
  cpus?: Quantity;
  memory?: Quantity;
  instanceType?: string;
  /** default false */
  useSpot: boolean;
  diskSizeGb?: number;
  diskTier?: 'low' | 'medium' | 'high' | 'ultra' | 'best';
  networkTier?: 'standard' | 'best';
  ports: PortRange[];
  imageId?: string | Record<string, string>;
  labels: Record<string, string>;
  autostop?: AutostopSpec;
  jobRecovery?: JobRecoverySpec;
  acceleratorArgs?: Record<string, unknown>;
  maxHourlyCost?: number;
  priority?: number;
  /** resources.volumes (extra disks), kept as written; not supported yet (see checkLaunchable). */
  volumes?: unknown;
}

export interface TaskSpec {
  /** Path given to parseTask (for messages). */
  file: string;
  name?: string;
  workdir?: string | { url: string; ref?: string };
  /** default 1 */
  numNodes: number;
  /** >= 1 candidates; shared top-level resource keys are merged into each alternative. */
  candidates: Resources[];
  /** true when `ordered:` was used (try in the user's order); false = any_of (cheapest wins). */
  ordered: boolean;
  envs: Record<string, string | null>;
  secrets: Record<string, string | null>;
  /** remote path -> local path / URI, or a storage object. */
  fileMounts: Record<string, string | Record<string, unknown>>;
  setup?: string;
  run?: string;
  config?: Record<string, unknown>;
  service?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
}

export interface TaskIssue {
  file: string;
  line?: number;
  column?: number;
  field: string;
  message: string;
}

/** `${file}:${line}:${column}: ${field}: ${message}` (without :line:column when unknown). */
export function formatIssue(i: TaskIssue): string {
  const where = i.line !== undefined ? `${i.file}:${i.line}:${i.column ?? 1}` : i.file;
  return `${where}: ${i.field}: ${i.message}`;
}

export class TaskValidationError extends Error {
  readonly issues: TaskIssue[];
  constructor(issues: TaskIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'TaskValidationError';
    this.issues = issues;
    Object.setPrototypeOf(this, TaskValidationError.prototype);
  }
}

// ---------------------------------------------------------------------------
// Names

/** Cluster, job and task names: a letter first, a letter or digit last, `-_.` inside. */
export const CLUSTER_NAME_RE = /^[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$/;
export const ENV_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** undefined when `name` is a valid name, else a message saying what was expected. */
export function validateName(name: string): string | undefined {
  if (CLUSTER_NAME_RE.test(name)) return undefined;
  return `expected a name of letters, digits, '-', '_' and '.' that starts with a letter and ends with a letter or digit, got ${JSON.stringify(name)}`;
}

// ---------------------------------------------------------------------------
// Field lists

export const TASK_FIELDS: readonly string[] = [
  'name',
  'workdir',
  'num_nodes',
  'resources',
  'envs',
  'secrets',
  'file_mounts',
  'setup',
  'run',
  'config',
  'service',
  'volumes',
  'event_callback',
  'pool',
  'inputs',
  'outputs',
];
export const RESOURCE_FIELDS: readonly string[] = [
  'infra',
  'cloud',
  'region',
  'zone',
  'accelerators',
  'accelerator_args',
  'cpus',
  'memory',
  'instance_type',
  'use_spot',
  'spot_recovery',
  'job_recovery',
  'disk_size',
  'disk_tier',
  'network_tier',
  'ports',
  'image_id',
  'labels',
  'autostop',
  'any_of',
  'ordered',
  'priority',
  'max_hourly_cost',
  'volumes',
  'local_disk',
  'ephemeral_storage',
];
const ACCELERATOR_ARGS_FIELDS = ['runtime_version', 'tpu_name', 'tpu_vm', 'gcp_queued_resource'];
const STORAGE_FIELDS = ['name', 'source', 'store', 'persistent', 'mode', 'config', '_force_delete', '_bucket_sub_path'];
export const STORAGE_STORES = ['s3', 'gcs', 'azure', 'r2', 'ibm', 'oci', 'nebius'] as const;
export const STORAGE_MODES = ['MOUNT', 'COPY', 'MOUNT_CACHED'] as const;

// ---------------------------------------------------------------------------
// Parse context

interface Pos {
  line: number;
  column: number;
}

/** Positions of fields in the file each spec came from, for checkLaunchable's messages. */
const fieldPositions = new WeakMap<TaskSpec, Map<string, Pos>>();

class Ctx {
  readonly issues: TaskIssue[] = [];
  readonly positions = new Map<string, Pos>();
  constructor(
    readonly file: string,
    readonly lc: LineCounter,
    readonly doc: Document.Parsed,
  ) {}

  pos(node: unknown): Pos | undefined {
    if (!isNode(node) || !node.range) return undefined;
    const p = this.lc.linePos(node.range[0]);
    return { line: p.line, column: p.col };
  }

  add(node: unknown, field: string, message: string): void {
    const p = this.pos(node);
    this.issues.push(
      p ? { file: this.file, line: p.line, column: p.column, field, message } : { file: this.file, field, message },
    );
  }

  js(node: unknown): unknown {
    if (node === null || node === undefined) return null;
    if (isNode(node)) return node.toJS(this.doc, { maxAliasCount: 100 });
    return node;
  }

  deref(node: unknown): unknown {
    if (isAlias(node)) return node.resolve(this.doc) ?? null;
    return node ?? null;
  }

  /** Reports a failed Parsed at the sub-node its `at` path names. */
  report<T>(valueNode: unknown, field: string, r: Parsed<T>): r is Extract<Parsed<T>, { ok: true }> {
    if (r.ok) return true;
    let node = this.deref(valueNode);
    let f = field;
    for (const step of r.at ?? []) {
      f = typeof step === 'number' ? `${f}[${step}]` : `${f}.${step}`;
      if (typeof step === 'number' && isSeq(node)) {
        node = this.deref(node.items[step]) ?? node;
      } else if (typeof step === 'string' && isMap(node)) {
        const pair = node.items.find((p) => keyText(this, p.key) === step);
        if (pair) node = this.deref(pair.value) ?? pair.key;
      }
    }
    this.add(node ?? valueNode, f, r.error);
    return false;
  }
}

function keyText(ctx: Ctx, key: unknown): string {
  if (isScalar(key)) return key.value === null ? '' : String(key.value);
  const v = ctx.js(key);
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function join(prefix: string, key: string | number): string {
  if (typeof key === 'number') return `${prefix}[${key}]`;
  return prefix ? `${prefix}.${key}` : key;
}

interface Entry {
  key: string;
  keyNode: unknown;
  value: unknown;
  field: string;
}

/** Entries of a mapping node (first of duplicated keys only; duplicates are reported by checkDuplicates). */
function entries(ctx: Ctx, node: unknown, prefix: string): Entry[] {
  const out: Entry[] = [];
  if (!isMap(node)) return out;
  const seen = new Set<string>();
  for (const pair of node.items) {
    const key = keyText(ctx, pair.key);
    if (seen.has(key)) continue;
    seen.add(key);
    const field = join(prefix, key);
    const p = ctx.pos(pair.key);
    if (p && !ctx.positions.has(field)) ctx.positions.set(field, p);
    out.push({ key, keyNode: pair.key, value: ctx.deref(pair.value), field });
  }
  return out;
}

function checkDuplicates(ctx: Ctx, node: unknown, prefix: string, depth = 0): void {
  if (depth > 64) return;
  if (isMap(node)) {
    const first = new Map<string, Pos | undefined>();
    for (const pair of node.items) {
      const key = keyText(ctx, pair.key);
      const field = join(prefix, key);
      if (first.has(key)) {
        const at = first.get(key);
        ctx.add(
          pair.key,
          field,
          `duplicate key '${key}'${at ? ` (first given at line ${at.line})` : ''}; give each field once`,
        );
      } else {
        first.set(key, ctx.pos(pair.key));
      }
      checkDuplicates(ctx, pair.value, field, depth + 1);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => checkDuplicates(ctx, item, join(prefix, i), depth + 1));
  }
}

function unknownField(ctx: Ctx, e: Entry, allowed: readonly string[], where: string): void {
  ctx.add(
    e.keyNode,
    e.field,
    unknownMessage('field', e.key, allowed, `expected one of the ${where} fields: ${allowed.join(', ')}`),
  );
}

/** A scalar as a string, keeping numbers as written (`1.0` stays "1.0"); null for null; undefined for non-scalars. */
function scalarString(ctx: Ctx, node: unknown): string | null | undefined {
  const n = ctx.deref(node);
  if (n === null) return null;
  if (!isScalar(n)) return undefined;
  const v = n.value;
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof n.source === 'string' && n.type === 'PLAIN') return n.source;
  return String(v);
}

function isStringRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---------------------------------------------------------------------------
// parseTask

/** Parses and validates task YAML. Throws TaskValidationError listing every issue found. */
export function parseTask(text: string, file: string): TaskSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false });
  const ctx = new Ctx(file, lc, doc);

  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const lp = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
      let message = e.message.replace(/ at line \d+, column \d+[\s\S]*$/, '');
      if (e.code === 'TAB_AS_INDENT') message = 'tabs are not allowed as indentation in YAML; indent with spaces';
      ctx.issues.push({ file, line: lp.line, column: lp.col, field: 'yaml', message: `invalid YAML: ${message}` });
    }
    throw new TaskValidationError(ctx.issues);
  }

  const root = ctx.deref(doc.contents);
  if (root === null || (isScalar(root) && root.value === null)) {
    ctx.issues.push({
      file,
      line: 1,
      column: 1,
      field: 'task',
      message: 'the task file is empty; expected a mapping of task fields like resources, setup and run',
    });
    throw new TaskValidationError(ctx.issues);
  }
  if (!isMap(root)) {
    ctx.add(
      root,
      'task',
      `expected a mapping of task fields (${TASK_FIELDS.join(', ')}), got ${describe(ctx.js(root))}`,
    );
    throw new TaskValidationError(ctx.issues);
  }
  checkDuplicates(ctx, root, '');

  const spec: TaskSpec = {
    file,
    numNodes: 1,
    candidates: [],
    ordered: false,
    envs: {},
    secrets: {},
    fileMounts: {},
  };
  let resourcesNode: unknown = null;

  for (const e of entries(ctx, root, '')) {
    switch (e.key) {
      case 'name': {
        if (e.value === null || (isScalar(e.value) && e.value.value === null)) break;
        const v = ctx.js(e.value);
        if (typeof v !== 'string') {
          ctx.add(e.value, e.field, `expected a name string like "train-llama", got ${describe(v)}`);
          break;
        }
        const err = validateName(v);
        if (err) ctx.add(e.value, e.field, err);
        else spec.name = v;
        break;
      }
      case 'workdir':
        parseWorkdir(ctx, e, spec);
        break;
      case 'num_nodes': {
        const v = ctx.js(e.value);
        const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
          ctx.add(e.value ?? e.keyNode, e.field, `expected a positive integer, got ${describe(v)}`);
        } else {
          spec.numNodes = n;
        }
        break;
      }
      case 'resources':
        resourcesNode = e.value;
        break;
      case 'envs':
        spec.envs = parseEnvMap(ctx, e, 'environment variable');
        break;
      case 'secrets':
        spec.secrets = parseEnvMap(ctx, e, 'secret');
        break;
      case 'file_mounts':
        spec.fileMounts = parseFileMounts(ctx, e);
        break;
      case 'setup':
      case 'run': {
        const s = scriptValue(ctx, e);
        if (s !== undefined) spec[e.key] = s;
        break;
      }
      case 'config':
      case 'service': {
        const v = ctx.js(e.value);
        if (v === null) break;
        if (!isStringRecord(v)) {
          ctx.add(e.value, e.field, `expected a mapping, got ${describe(v)}`);
          break;
        }
        spec[e.key] = v;
        break;
      }
      case 'volumes': {
        const v = ctx.js(e.value);
        if (v === null) break;
        if (isStringRecord(v)) spec.volumes = v;
        else if (Array.isArray(v)) spec.volumes = { list: v };
        else ctx.add(e.value, e.field, `expected a mapping of mount path to volume name, got ${describe(v)}`);
        break;
      }
      case 'event_callback': {
        const v = ctx.js(e.value);
        if (v !== null && typeof v !== 'string')
          ctx.add(e.value, e.field, `expected a command string, got ${describe(v)}`);
        break;
      }
      case 'pool':
      case 'inputs':
      case 'outputs': {
        const v = ctx.js(e.value);
        if (v !== null && !isStringRecord(v)) ctx.add(e.value, e.field, `expected a mapping, got ${describe(v)}`);
        break;
      }
      default:
        unknownField(ctx, e, TASK_FIELDS, 'task');
    }
  }

  const res = parseResources(ctx, resourcesNode);
  spec.candidates = res.candidates;
  spec.ordered = res.ordered;

  for (const name of Object.keys(spec.secrets)) {
    if (Object.prototype.hasOwnProperty.call(spec.envs, name)) {
      const p = ctx.positions.get(`secrets.${name}`);
      ctx.issues.push({
        file,
        ...(p ? { line: p.line, column: p.column } : {}),
        field: `secrets.${name}`,
        message: `'${name}' is in both envs and secrets; give it in one of them only`,
      });
    }
  }

  if (ctx.issues.length > 0) {
    const sorted = ctx.issues
      .map((i, n) => ({ i, n }))
      .sort(
        (a, b) => (a.i.line ?? Infinity) - (b.i.line ?? Infinity) || (a.i.column ?? 0) - (b.i.column ?? 0) || a.n - b.n,
      )
      .map((x) => x.i);
    throw new TaskValidationError(sorted);
  }
  fieldPositions.set(spec, ctx.positions);
  return spec;
}

function parseWorkdir(ctx: Ctx, e: Entry, spec: TaskSpec): void {
  const v = ctx.js(e.value);
  if (v === null) return;
  if (typeof v === 'string') {
    if (v.trim() === '')
      ctx.add(e.value, e.field, 'expected a local directory like "." or {url, ref}, got an empty string');
    else spec.workdir = v;
    return;
  }
  if (!isStringRecord(v)) {
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

function parseEnvMap(ctx: Ctx, e: Entry, what: string): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (e.value === null) return out;
  if (!isMap(e.value)) {
    ctx.add(e.value, e.field, `expected a mapping of NAME: value, got ${describe(ctx.js(e.value))}`);
    return out;
  }
  for (const sub of entries(ctx, e.value, e.field)) {
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

function parseStorage(ctx: Ctx, e: Entry): Record<string, unknown> | undefined {
  const obj: Record<string, unknown> = {};
  let ok = true;
  for (const f of entries(ctx, e.value, e.field)) {
    const v = ctx.js(f.value);
    switch (f.key) {
      case 'name':
        if (typeof v !== 'string' || v.trim() === '') {
          ctx.add(f.value ?? f.keyNode, f.field, `expected a bucket name string, got ${describe(v)}`);
          ok = false;
        } else obj.name = v;
        break;
      case 'source':
        if (
          typeof v === 'string'
            ? v.trim() === ''
            : !(Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string'))
        ) {
          ctx.add(f.value ?? f.keyNode, f.field, `expected a local path, a URI or a list of them, got ${describe(v)}`);
          ok = false;
        } else obj.source = v;
        break;
      case 'store': {
        const r = parseEnum(v, STORAGE_STORES, 'store');
        if (ctx.report(f.value ?? f.keyNode, f.field, r)) obj.store = r.value;
        else ok = false;
        break;
      }
      case 'mode': {
        const r = parseEnum(v, STORAGE_MODES, 'storage mode');
        if (ctx.report(f.value ?? f.keyNode, f.field, r)) obj.mode = r.value;
        else ok = false;
        break;
      }
      case 'persistent':
      case '_force_delete':
        if (typeof v !== 'boolean') {
          ctx.add(f.value ?? f.keyNode, f.field, `expected true or false, got ${describe(v)}`);
          ok = false;
        } else obj[f.key] = v;
        break;
      case 'config':
        if (v !== null && !isStringRecord(v)) {
          ctx.add(f.value, f.field, `expected a mapping, got ${describe(v)}`);
          ok = false;
        } else if (v !== null) obj.config = v;
        break;
      case '_bucket_sub_path':
        obj[f.key] = v;
        break;
      default:
        unknownField(
          ctx,
          f,
          STORAGE_FIELDS.filter((k) => !k.startsWith('_')),
          'storage object',
        );
        ok = false;
    }
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

// ---------------------------------------------------------------------------
// Resources

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

interface ResourceMapResult {
  part: PartialRes;
  alternatives?: { kind: 'any_of' | 'ordered'; node: unknown; field: string; keyNode: unknown };
}

function defaultResources(): Resources {
  return { infra: {}, useSpot: false, ports: [], labels: {} };
}

function parseResources(ctx: Ctx, node: unknown): { candidates: Resources[]; ordered: boolean } {
  if (node === null || (isScalar(node) && node.value === null))
    return { candidates: [defaultResources()], ordered: false };
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

function parseResourceMap(ctx: Ctx, node: unknown, prefix: string, isAlternative: boolean): ResourceMapResult {
  const part: PartialRes = {};
  const result: ResourceMapResult = { part };
  let infraEntry: Entry | undefined;
  const locFields: Entry[] = [];
  let fieldLoc: Location = {};
  let fieldLocOk = true;
  let recoveryEntry: Entry | undefined;

  for (const e of entries(ctx, node, prefix)) {
    const v = ctx.js(e.value);
    const at = e.value ?? e.keyNode;
    switch (e.key) {
      case 'infra': {
        infraEntry = e;
        if (v === null) break;
        const r = parseInfra(v);
        if (ctx.report(at, e.field, r)) part.loc = { kind: 'infra', value: r.value, hasCloud: true };
        break;
      }
      case 'cloud': {
        locFields.push(e);
        if (v === null || v === '*') break;
        const r = normalizeCloud(v);
        if (ctx.report(at, e.field, r)) fieldLoc = { ...fieldLoc, cloud: r.value };
        else fieldLocOk = false;
        break;
      }
      case 'region':
      case 'zone': {
        locFields.push(e);
        const r = parseLocationPart(v, e.key);
        if (ctx.report(at, e.field, r)) {
          if (r.value !== undefined) fieldLoc = { ...fieldLoc, [e.key]: r.value };
        } else fieldLocOk = false;
        break;
      }
      case 'accelerators': {
        const r = parseAccelerators(v);
        if (ctx.report(at, e.field, r)) part.accelerators = r.value;
        break;
      }
      case 'accelerator_args': {
        if (v === null) break;
        if (!isStringRecord(v)) {
          ctx.add(at, e.field, `expected a mapping {${ACCELERATOR_ARGS_FIELDS.join(', ')}}, got ${describe(v)}`);
          break;
        }
        let good = true;
        for (const sub of entries(ctx, e.value, e.field)) {
          if (!ACCELERATOR_ARGS_FIELDS.includes(sub.key)) {
            unknownField(ctx, sub, ACCELERATOR_ARGS_FIELDS, 'accelerator_args');
            good = false;
          }
        }
        if (good) part.acceleratorArgs = v;
        break;
      }
      case 'cpus':
      case 'memory': {
        if (v === null) break;
        const r = parseQuantity(v, e.key);
        if (ctx.report(at, e.field, r)) part[e.key] = r.value;
        break;
      }
      case 'instance_type':
        if (v === null) break;
        if (typeof v !== 'string' || v.trim() === '' || /\s/.test(v.trim())) {
          ctx.add(
            at,
            e.field,
            `expected an instance type name like "p4d.24xlarge" or "n2-standard-8", got ${describe(v)}`,
          );
        } else part.instanceType = v.trim();
        break;
      case 'use_spot':
        if (v === null) break;
        if (typeof v !== 'boolean') ctx.add(at, e.field, `expected true or false, got ${describe(v)}`);
        else part.useSpot = v;
        break;
      case 'job_recovery':
      case 'spot_recovery': {
        if (recoveryEntry) {
          ctx.add(e.keyNode, e.field, `give only one of job_recovery and spot_recovery (a legacy alias), not both`);
          break;
        }
        recoveryEntry = e;
        if (v === null) break;
        const r = parseJobRecovery(v);
        if (ctx.report(at, e.field, r)) part.jobRecovery = r.value;
        break;
      }
      case 'disk_size': {
        if (v === null) break;
        const r = parseDiskSize(v);
        if (ctx.report(at, e.field, r)) part.diskSizeGb = r.value;
        break;
      }
      case 'disk_tier': {
        if (v === null) break;
        const r = parseDiskTier(v);
        if (ctx.report(at, e.field, r)) part.diskTier = r.value;
        break;
      }
      case 'network_tier': {
        if (v === null) break;
        const r = parseNetworkTier(v);
        if (ctx.report(at, e.field, r)) part.networkTier = r.value;
        break;
      }
      case 'ports': {
        const r = parsePorts(v);
        if (ctx.report(at, e.field, r)) part.ports = r.value;
        break;
      }
      case 'image_id': {
        if (v === null) break;
        if (typeof v === 'string' && v.trim() !== '') {
          part.imageId = v.trim();
        } else if (isStringRecord(v) && Object.keys(v).length > 0) {
          const images: Record<string, string> = {};
          let good = true;
          for (const sub of entries(ctx, e.value, e.field)) {
            const s = ctx.js(sub.value);
            if (typeof s !== 'string' || s.trim() === '') {
              ctx.add(
                sub.value ?? sub.keyNode,
                sub.field,
                `expected an image id string for region '${sub.key}', got ${describe(s)}`,
              );
              good = false;
            } else images[sub.key] = s.trim();
          }
          if (good) part.imageId = images;
        } else {
          ctx.add(
            at,
            e.field,
            `expected an image id string (like "ami-0123…" or "docker:ubuntu:22.04") or a mapping of region to image id, got ${describe(v)}`,
          );
        }
        break;
      }
      case 'labels': {
        if (v === null) break;
        if (!isMap(e.value)) {
          ctx.add(at, e.field, `expected a mapping of label name to string value, got ${describe(v)}`);
          break;
        }
        const labels: Record<string, string> = {};
        let good = true;
        for (const sub of entries(ctx, e.value, e.field)) {
          const s = scalarString(ctx, sub.value);
          if (typeof s !== 'string') {
            ctx.add(
              sub.value ?? sub.keyNode,
              sub.field,
              `expected a string value for label '${sub.key}', got ${describe(ctx.js(sub.value))}`,
            );
            good = false;
          } else labels[sub.key] = s;
        }
        if (good) part.labels = labels;
        break;
      }
      case 'autostop': {
        const r = parseAutostop(v);
        if (ctx.report(at, e.field, r)) part.autostop = r.value; // undefined = explicitly off
        break;
      }
      case 'priority':
        if (v === null) break;
        if (typeof v !== 'number' || !Number.isInteger(v))
          ctx.add(at, e.field, `expected an integer priority, got ${describe(v)}`);
        else part.priority = v;
        break;
      case 'max_hourly_cost':
        if (v === null) break;
        if (typeof v !== 'number' || !(v > 0))
          ctx.add(at, e.field, `expected a positive hourly cost in dollars like 12.5, got ${describe(v)}`);
        else part.maxHourlyCost = v;
        break;
      case 'volumes':
        if (v === null) break;
        if (!Array.isArray(v) && !isStringRecord(v))
          ctx.add(at, e.field, `expected a list of volumes {path, name, disk_size, ...}, got ${describe(v)}`);
        else part.volumes = v;
        break;
      case 'local_disk':
      case 'ephemeral_storage':
        break; // accepted for compatibility; ignored
      case 'any_of':
      case 'ordered': {
        if (isAlternative) {
          ctx.add(
            e.keyNode,
            e.field,
            `nested ${e.key} is not supported; each alternative must be a flat mapping of resource fields`,
          );
          break;
        }
        if (result.alternatives) {
          ctx.add(e.keyNode, e.field, `use either any_of or ordered, not both (found ${result.alternatives.kind} too)`);
          break;
        }
        result.alternatives = { kind: e.key, node: e.value, field: e.field, keyNode: e.keyNode };
        break;
      }
      default:
        unknownField(ctx, e, RESOURCE_FIELDS, 'resources');
    }
  }

  if (infraEntry && locFields.length > 0) {
    const names = locFields.map((x) => x.key).join('/');
    ctx.add(
      locFields[0].keyNode,
      locFields[0].field,
      `use either infra or ${names}, not both; e.g. infra: aws/us-east-1/us-east-1a`,
    );
  } else if (locFields.length > 0 && fieldLocOk) {
    part.loc = { kind: 'fields', value: fieldLoc, hasCloud: locFields.some((x) => x.key === 'cloud') };
  }
  return result;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

function stableKey(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableKey).join(',')}]`;
  if (isStringRecord(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableKey(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'undefined';
}

function dedupe(rs: Resources[]): Resources[] {
  const seen = new Set<string>();
  return rs.filter((r) => {
    const k = stableKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---------------------------------------------------------------------------
// CLI overrides

export interface TaskOverrides {
  envs?: Record<string, string>;
  secrets?: Record<string, string>;
  infra?: string;
  cpus?: string;
  memory?: string;
  gpus?: string;
  instanceType?: string;
  useSpot?: boolean;
  numNodes?: number;
  name?: string;
  workdir?: string;
  diskSize?: string;
  ports?: string[];
  imageId?: string;
}

/**
 * Applies CLI flags to a task and returns a new spec (the input is not changed).
 * Flags win over the YAML; resource flags apply to every candidate. Bad values
 * throw TaskValidationError whose issues name the flag (e.g. field '--gpus').
 */
export function applyOverrides(task: TaskSpec, o: TaskOverrides): TaskSpec {
  const issues: TaskIssue[] = [];
  const bad = (field: string, message: string): void => {
    issues.push({ file: task.file, field, message });
  };
  const out: TaskSpec = clone(task);
  out.file = task.file;

  const applyVars = (vars: Record<string, string> | undefined, kind: 'envs' | 'secrets', flag: string): void => {
    if (!vars) return;
    const other = kind === 'envs' ? out.secrets : out.envs;
    for (const [name, value] of Object.entries(vars)) {
      if (!ENV_NAME_RE.test(name)) {
        bad(
          flag,
          `invalid name '${name}'; expected ${flag} NAME=VALUE with NAME of letters, digits and '_', not starting with a digit`,
        );
        continue;
      }
      if (Object.prototype.hasOwnProperty.call(other, name)) {
        const otherFlag = kind === 'envs' ? '--secret' : '--env';
        bad(
          flag,
          `'${name}' is a ${kind === 'envs' ? 'secret' : 'env'} in the task; give it with ${otherFlag} ${name}=VALUE`,
        );
        continue;
      }
      out[kind][name] = value;
    }
  };
  applyVars(o.envs, 'envs', '--env');
  applyVars(o.secrets, 'secrets', '--secret');

  const eachCandidate = (f: (r: Resources) => void): void => out.candidates.forEach(f);
  const parsed = <T>(flag: string, r: Parsed<T>): T | undefined => {
    if (r.ok) return r.value;
    bad(flag, r.error);
    return undefined;
  };

  if (o.infra !== undefined) {
    const loc = parsed('--infra', parseInfra(o.infra));
    if (loc)
      eachCandidate((r) => {
        r.infra = { ...loc };
      });
  }
  if (o.cpus !== undefined) {
    const q = parsed('--cpus', parseQuantity(o.cpus, 'cpus'));
    if (q)
      eachCandidate((r) => {
        r.cpus = { ...q };
      });
  }
  if (o.memory !== undefined) {
    const q = parsed('--memory', parseQuantity(o.memory, 'memory'));
    if (q)
      eachCandidate((r) => {
        r.memory = { ...q };
      });
  }
  if (o.gpus !== undefined) {
    const accs = parsed('--gpus', parseAccelerators(o.gpus));
    if (accs && accs.length === 0)
      bad('--gpus', 'expected an accelerator like "A100", "A100:8" or "A100:8,H100:8", got an empty value');
    else if (accs) {
      out.candidates = out.candidates.flatMap((r) => accs.map((a) => ({ ...clone(r), accelerator: { ...a } })));
    }
  }
  if (o.instanceType !== undefined) {
    const t = o.instanceType.trim();
    if (t === '' || /\s/.test(t))
      bad(
        '--instance-type',
        `expected an instance type name like "p4d.24xlarge", got ${JSON.stringify(o.instanceType)}`,
      );
    else
      eachCandidate((r) => {
        r.instanceType = t;
      });
  }
  if (o.useSpot !== undefined) {
    const spot = o.useSpot;
    eachCandidate((r) => {
      r.useSpot = spot;
    });
  }
  if (o.diskSize !== undefined) {
    const gb = parsed('--disk-size', parseDiskSize(o.diskSize));
    if (gb !== undefined)
      eachCandidate((r) => {
        r.diskSizeGb = gb;
      });
  }
  if (o.ports !== undefined) {
    const all: PortRange[] = [];
    let good = true;
    for (const p of o.ports) {
      const r = parsed('--ports', parsePorts(p));
      if (r) all.push(...r);
      else good = false;
    }
    if (good)
      eachCandidate((r) => {
        r.ports = all.map((x) => ({ ...x }));
      });
  }
  if (o.imageId !== undefined) {
    const id = o.imageId.trim();
    if (id === '')
      bad('--image-id', 'expected an image id like "ami-0123…" or "docker:ubuntu:22.04", got an empty string');
    else
      eachCandidate((r) => {
        r.imageId = id;
      });
  }
  if (o.numNodes !== undefined) {
    if (!Number.isInteger(o.numNodes) || o.numNodes < 1)
      bad('--num-nodes', `expected a positive integer, got ${o.numNodes}`);
    else out.numNodes = o.numNodes;
  }
  if (o.name !== undefined) {
    const err = validateName(o.name);
    if (err) bad('--name', err);
    else out.name = o.name;
  }
  if (o.workdir !== undefined) {
    if (o.workdir.trim() === '') bad('--workdir', 'expected a local directory, got an empty string');
    else out.workdir = o.workdir;
  }

  if (issues.length > 0) throw new TaskValidationError(issues);
  out.candidates = dedupe(out.candidates);
  const positions = fieldPositions.get(task);
  if (positions) fieldPositions.set(out, positions);
  return out;
}

/** A task for `skyrun launch -- <command>`: run = cmd, defaults otherwise. */
export function taskFromCommand(cmd: string, file = '<command line>'): TaskSpec {
  const spec: TaskSpec = {
    file,
    numNodes: 1,
    candidates: [defaultResources()],
    ordered: false,
    envs: {},
    secrets: {},
    fileMounts: {},
  };
  if (cmd.trim() !== '') spec.run = cmd;
  return spec;
}

// ---------------------------------------------------------------------------
// Launch checks

const URI_RE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

/**
 * Problems that refuse a launch of an otherwise valid task (unset required envs
 * and secrets, features not supported yet, nothing to run). Empty = launchable.
 * job_recovery on a non-managed launch is ignored without an issue.
 */
export function checkLaunchable(task: TaskSpec, opts: { managed?: boolean }): TaskIssue[] {
  const positions = fieldPositions.get(task);
  const issues: TaskIssue[] = [];
  const add = (field: string, message: string, posField = field): void => {
    if (issues.some((i) => i.field === field && i.message === message)) return;
    const p = positions?.get(posField);
    issues.push(
      p ? { file: task.file, line: p.line, column: p.column, field, message } : { file: task.file, field, message },
    );
  };

  for (const [name, value] of Object.entries(task.envs)) {
    if (value === null) add(`envs.${name}`, `${name} has no value; it must be given with --env ${name}=VALUE`);
  }
  for (const [name, value] of Object.entries(task.secrets)) {
    if (value === null) add(`secrets.${name}`, `${name} has no value; it must be given with --secret ${name}=VALUE`);
  }
  if (task.service !== undefined) {
    add('service', 'SkyServe services are not supported yet; use skyrun launch without service');
  }
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    const field = `file_mounts.${remote}`;
    if (typeof src !== 'string') {
      add(
        field,
        'storage objects (buckets) in file_mounts are not supported yet; use a local path, or fetch the data in setup',
      );
    } else if (URI_RE.test(src.trim())) {
      add(
        field,
        `cloud URIs (${src.trim().split('://')[0]}://) in file_mounts are not supported yet (buckets are not supported yet); use a local path, or fetch the data in setup`,
      );
    }
  }
  if (task.workdir !== undefined && typeof task.workdir !== 'string') {
    add(
      'workdir',
      'git workdirs ({url, ref}) are not supported yet; use a local directory or clone the repository in setup',
    );
  }
  if (task.volumes !== undefined) {
    add('volumes', 'volumes are not supported yet; remove volumes from the task');
  }
  for (const r of task.candidates) {
    const images =
      r.imageId === undefined ? [] : typeof r.imageId === 'string' ? [r.imageId] : Object.values(r.imageId);
    if (images.some((i) => i.trim().toLowerCase().startsWith('docker:'))) {
      add(
        'resources.image_id',
        'docker images (image_id: docker:...) are not supported yet; use a VM image or install what you need in setup',
        'resources.image_id',
      );
    }
    if (r.volumes !== undefined) {
      add('resources.volumes', 'resources.volumes (extra disks) are not supported yet; remove them from the task');
    }
  }
  if (opts.managed && task.candidates.length > 1) {
    const first = stableKey(task.candidates[0].jobRecovery ?? null);
    if (task.candidates.some((r) => stableKey(r.jobRecovery ?? null) !== first)) {
      add(
        'resources.job_recovery',
        'managed jobs need the same job_recovery in every resources alternative; move it to the shared resources fields',
      );
    }
  }
  if ((task.run === undefined || task.run.trim() === '') && (task.setup === undefined || task.setup.trim() === '')) {
    add('run', 'nothing to run: the task has neither run nor setup; add run: <command>');
  }
  return issues;
}

/** Replaces every non-empty secret value of the task found in `text` with <redacted>. */
export function redactSecrets(text: string, task: TaskSpec): string {
  const values = Object.values(task.secrets)
    .filter((v): v is string => typeof v === 'string' && v.length > 0)
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const v of values) out = out.split(v).join('<redacted>');
  return out;
}

// ---------------------------------------------------------------------------
// Env references in workdir and file_mounts

/**
 * Replaces `${VAR}` and `$VAR` in `text` by the task env's value, for envs that
 * have a value; other references are left as written.
 */
export function expandEnvRefs(text: string, envs: Record<string, string | null>): string {
  return text.replace(
    /\$\{([a-zA-Z_][a-zA-Z0-9_]*)\}|\$([a-zA-Z_][a-zA-Z0-9_]*)/g,
    (whole, braced?: string, bare?: string) => {
      const name = braced ?? bare ?? '';
      const v = Object.prototype.hasOwnProperty.call(envs, name) ? envs[name] : null;
      return typeof v === 'string' ? v : whole;
    },
  );
}

/**
 * As SkyPilot does, substitutes the task's envs (not secrets) into workdir and
 * file_mounts (remote paths, local paths/URIs, and storage name/source). Call
 * it after applyOverrides so --env values are used. Returns a new spec.
 */
export function substituteEnvs(task: TaskSpec): TaskSpec {
  const sub = (s: string): string => expandEnvRefs(s, task.envs);
  const out: TaskSpec = { ...task, fileMounts: {} };
  if (typeof task.workdir === 'string') out.workdir = sub(task.workdir);
  else if (task.workdir)
    out.workdir =
      task.workdir.ref === undefined
        ? { url: sub(task.workdir.url) }
        : { url: sub(task.workdir.url), ref: sub(task.workdir.ref) };
  for (const [remote, src] of Object.entries(task.fileMounts)) {
    if (typeof src === 'string') {
      out.fileMounts[sub(remote)] = sub(src);
    } else {
      const obj: Record<string, unknown> = { ...src };
      if (typeof obj.name === 'string') obj.name = sub(obj.name);
      if (typeof obj.source === 'string') obj.source = sub(obj.source);
      else if (Array.isArray(obj.source)) obj.source = obj.source.map((x) => (typeof x === 'string' ? sub(x) : x));
      out.fileMounts[sub(remote)] = obj;
    }
  }
  const positions = fieldPositions.get(task);
  if (positions) fieldPositions.set(out, positions);
  return out;
}
