// Parsers for the small value forms of a task's `resources` (and of the CLI
// flags --gpus, --cpus, --memory, --infra, --ports, --disk-size).
// Pure TypeScript with no Node built-ins: bundle-safe for Temporal workflows.
//
// Every parser takes a plain JS value (what YAML gave, or a flag's string) and
// returns a Parsed<T>: either { ok: true, value } or { ok: false, error } where
// `error` says what was expected and what was given. `at`, when present, is the
// path inside the value (mapping key or list index) of the part that is wrong,
// so the task parser can point at its line and column.

import { nearest, unknownMessage } from './suggest';

/** A place to look; undefined parts mean any ('*' or absent). */
export interface Location {
  cloud?: string;
  region?: string;
  zone?: string;
}
/** Accelerator name (canonical casing when known) and count per node (may be fractional). */
export interface AcceleratorRequest {
  name: string;
  count: number;
}
/** `"4+"` => { value: 4, orMore: true }; `4` or `"4"` => { value: 4, orMore: false }. */
export interface Quantity {
  value: number;
  orMore: boolean;
}
/** Inclusive port range; a single port has from === to. */
export interface PortRange {
  from: number;
  to: number;
}
export interface AutostopSpec {
  idleMinutes: number;
  down: boolean;
  waitFor?: 'jobs_and_ssh' | 'jobs' | 'none';
  /** Command run on the cluster before it is stopped (SkyPilot `hook`). */
  hook?: string;
  /** Seconds the hook may take (SkyPilot `hook_timeout`). */
  hookTimeoutSeconds?: number;
}
export interface JobRecoverySpec {
  strategy: 'EAGER_NEXT_REGION' | 'FAILOVER';
  maxRestartsOnErrors: number;
  recoverOnExitCodes: number[];
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; at?: (string | number)[] };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
export function fail<T>(error: string, at?: (string | number)[]): Parsed<T> {
  return at && at.length > 0 ? { ok: false, error, at } : { ok: false, error };
}
/** Prefixes `at` with a path component (used when a parser calls another). */
function within<T>(r: Parsed<T>, prefix: string | number): Parsed<T> {
  if (r.ok) return r;
  return { ok: false, error: r.error, at: [prefix, ...(r.at ?? [])] };
}

/** Short description of a value for messages: `"two"`, `5`, `a list`, `a mapping`, `null`. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quoteList(xs: readonly string[]): string {
  return xs.join(', ');
}

// ---------------------------------------------------------------------------
// Clouds and infra

/** Known infra names, lowercase. `k8s` is an alias of `kubernetes`. */
export const KNOWN_CLOUDS: readonly string[] = [
  'aws',
  'gcp',
  'azure',
  'kubernetes',
  'lambda',
  'runpod',
  'nebius',
  'oci',
  'ibm',
  'scp',
  'vast',
  'cudo',
  'fluidstack',
  'paperspace',
  'do',
  'hyperbolic',
  'ssh',
  'slurm',
  'vsphere',
  'local',
  'sim',
];
const CLOUD_ALIASES: Record<string, string> = { k8s: 'kubernetes' };

/** Canonical (lowercase) cloud name, or an error with a suggestion. */
export function normalizeCloud(name: unknown): Parsed<string> {
  if (typeof name !== 'string' || name.trim() === '') {
    return fail(`expected a cloud name (one of ${quoteList(KNOWN_CLOUDS)}), got ${describe(name)}`);
  }
  const lower = name.trim().toLowerCase();
  if (CLOUD_ALIASES[lower] !== undefined) return ok(CLOUD_ALIASES[lower]);
  if (KNOWN_CLOUDS.includes(lower)) return ok(lower);
  return fail(
    unknownMessage('cloud', name, [...KNOWN_CLOUDS, 'k8s'], `expected one of ${quoteList(KNOWN_CLOUDS)} (or k8s)`),
  );
}

const INFRA_EXPECTED =
  'expected infra like "aws", "aws/us-east-1", "aws/us-east-1/us-east-1a", "*/us-east-1", "aws/*/us-east-1a", "k8s/<context>" or "ssh/<pool>"';
const LOCATION_PART_RE = /^[A-Za-z0-9*][-A-Za-z0-9_.:*@]*$/;

/**
 * Parses `cloud[/region[/zone]]`. `*` in any part means any. For kubernetes
 * (`k8s/<context>`) and ssh (`ssh/<pool>`) everything after the first `/` is the
 * context or pool and goes in `region`.
 */
export function parseInfra(v: unknown): Parsed<Location> {
  if (typeof v !== 'string') return fail(`${INFRA_EXPECTED}, got ${describe(v)}`);
  const s = v.trim();
  if (s === '') return fail(`${INFRA_EXPECTED}, got an empty string`);
  if (/\s/.test(s)) return fail(`${INFRA_EXPECTED}, got ${describe(v)} (contains spaces)`);
  const parts = s.split('/');
  const loc: Location = {};
  const head = parts[0];
  if (head === '') return fail(`${INFRA_EXPECTED}, got ${describe(v)} (no cloud before '/'; use '*' for any cloud)`);
  if (head !== '*') {
    const cloud = normalizeCloud(head);
    if (!cloud.ok) return cloud;
    loc.cloud = cloud.value;
  }
  if (loc.cloud === 'kubernetes' || loc.cloud === 'ssh') {
    if (parts.length > 1) {
      const rest = parts.slice(1).join('/');
      if (rest === '') {
        const what = loc.cloud === 'ssh' ? 'pool' : 'context';
        return fail(`${INFRA_EXPECTED}, got ${describe(v)} (empty ${what} after '/')`);
      }
      if (rest !== '*') loc.region = rest;
    }
    return ok(loc);
  }
  if (parts.length > 3) {
    return fail(`${INFRA_EXPECTED}, got ${describe(v)} (more than cloud/region/zone)`);
  }
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i];
    const what = i === 1 ? 'region' : 'zone';
    if (p === '') return fail(`${INFRA_EXPECTED}, got ${describe(v)} (empty ${what}; use '*' for any ${what})`);
    if (!LOCATION_PART_RE.test(p)) return fail(`${INFRA_EXPECTED}, got ${describe(v)} (bad ${what} '${p}')`);
    if (p === '*') continue;
    if (i === 1) loc.region = p;
    else loc.zone = p;
  }
  return ok(loc);
}

/** Formats a Location back to infra syntax (`aws/us-east-1`, `*` for any). */
export function formatInfra(loc: Location): string {
  const parts = [loc.cloud ?? '*', loc.region ?? '*', loc.zone ?? '*'];
  while (parts.length > 1 && parts[parts.length - 1] === '*') parts.pop();
  return parts.join('/');
}

/** A region or zone given on its own (`region:` / `zone:` fields). `*` means any. */
export function parseLocationPart(v: unknown, what: 'region' | 'zone'): Parsed<string | undefined> {
  if (v === null || v === undefined) return ok(undefined);
  if (typeof v !== 'string' || v.trim() === '') {
    return fail(
      `expected a ${what} name like ${what === 'region' ? '"us-east-1"' : '"us-east-1a"'}, got ${describe(v)}`,
    );
  }
  const s = v.trim();
  if (!LOCATION_PART_RE.test(s)) {
    return fail(
      `expected a ${what} name like ${what === 'region' ? '"us-east-1"' : '"us-east-1a"'}, got ${describe(v)}`,
    );
  }
  return ok(s === '*' ? undefined : s);
}

// ---------------------------------------------------------------------------
// Accelerators

/** Canonical names of common accelerators; matching is case-insensitive. */
export const KNOWN_ACCELERATORS: readonly string[] = [
  'A100',
  'A100-80GB',
  'H100',
  'H100-MEGA',
  'H100-80GB',
  'H200',
  'B200',
  'B100',
  'GB200',
  'L4',
  'L40',
  'L40S',
  'T4',
  'T4g',
  'V100',
  'V100-32GB',
  'A10G',
  'A10',
  'K80',
  'P100',
  'P4',
  'P40',
  'M60',
  'A40',
  'A4000',
  'A5000',
  'A6000',
  'RTXA4000',
  'RTXA5000',
  'RTXA6000',
  'RTX3090',
  'RTX4090',
  'RTX6000',
  'RTX6000-Ada',
  'tpu-v2-8',
  'tpu-v3-8',
  'tpu-v4-8',
  'tpu-v5e-8',
  'tpu-v5litepod-8',
  'tpu-v5p-8',
  'tpu-v6e-8',
  'Trainium',
  'Trainium2',
  'Inferentia',
  'Inferentia2',
  'Gaudi',
  'Gaudi2',
  'MI100',
  'MI210',
  'MI250',
  'MI250X',
  'MI300X',
  'MI325X',
];
const ACCELERATOR_BY_LOWER: Map<string, string> = new Map(KNOWN_ACCELERATORS.map((n) => [n.toLowerCase(), n]));

/** Canonical casing for a known accelerator name; unknown names are returned as written. */
export function canonicalAcceleratorName(name: string): string {
  return ACCELERATOR_BY_LOWER.get(name.toLowerCase()) ?? name;
}

export const ACCELERATOR_EXPECTED = 'expected an accelerator like "A100", "A100:8", {A100: 8} or ["A100:8", "H100:8"]';
const ACCELERATOR_NAME_RE = /^[A-Za-z0-9][-A-Za-z0-9_.]*$/;

function parseCount(v: unknown, name: string): Parsed<number> {
  if (v === null || v === undefined) return ok(1);
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v)) n = Number(v);
  else return fail(`expected a positive number of ${name} per node (like 1, 8 or 0.5), got ${describe(v)}`);
  if (!Number.isFinite(n) || n <= 0) {
    return fail(`expected a positive number of ${name} per node (like 1, 8 or 0.5), got ${describe(v)}`);
  }
  return ok(n);
}

function parseAcceleratorName(raw: string, whole: unknown): Parsed<string> {
  const name = raw.trim();
  if (name === '' || !ACCELERATOR_NAME_RE.test(name)) {
    return fail(`${ACCELERATOR_EXPECTED}, got ${describe(whole)}`);
  }
  return ok(canonicalAcceleratorName(name));
}

/** One accelerator written as `NAME` or `NAME:COUNT`. */
export function parseAcceleratorString(s: string): Parsed<AcceleratorRequest> {
  const parts = s.split(':');
  if (parts.length > 2) return fail(`${ACCELERATOR_EXPECTED}, got ${describe(s)}`);
  const name = parseAcceleratorName(parts[0], s);
  if (!name.ok) return name;
  if (parts.length === 1) return ok({ name: name.value, count: 1 });
  const countText = parts[1].trim();
  if (countText === '') return fail(`${ACCELERATOR_EXPECTED}, got ${describe(s)} (missing count after ':')`);
  const count = parseCount(countText, name.value);
  if (!count.ok) return count;
  return ok({ name: name.value, count: count.value });
}

/**
 * Any accepted `accelerators` form, as a list of alternatives (each becomes its
 * own candidate): `"A100"`, `"A100:8"`, `"A100:0.5"`, `{A100: 8}`,
 * `{A100: 8, H100: null}`, `["A100:8", "H100:8"]`, `"{A100:8, H100:8}"`, and
 * (what YAML makes of an unquoted `{A100:8, H100:8}`) `{"A100:8": null, ...}`.
 * Also the CLI's --gpus value. `null` yields an empty list (no accelerator).
 */
export function parseAccelerators(v: unknown): Parsed<AcceleratorRequest[]> {
  if (v === null || v === undefined) return ok([]);
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('{') || s.endsWith('}')) {
      if (!(s.startsWith('{') && s.endsWith('}'))) return fail(`${ACCELERATOR_EXPECTED}, got ${describe(v)}`);
      const inner = s.slice(1, -1).trim();
      if (inner === '') return fail(`${ACCELERATOR_EXPECTED}, got an empty set ${describe(v)}`);
      return collect(
        inner.split(',').map((x) => x.trim()),
        (x) => parseAcceleratorString(x),
        false,
      );
    }
    if (s.includes(',')) {
      // --gpus A100:8,H100:8 on the command line.
      return collect(
        s.split(',').map((x) => x.trim()),
        (x) => parseAcceleratorString(x),
        false,
      );
    }
    const one = parseAcceleratorString(s);
    return one.ok ? ok([one.value]) : one;
  }
  if (typeof v === 'number') {
    return fail(`${ACCELERATOR_EXPECTED}, got ${describe(v)} (a count without a name)`);
  }
  if (Array.isArray(v)) {
    if (v.length === 0) return fail(`${ACCELERATOR_EXPECTED}, got an empty list`);
    return collect(
      v,
      (x) => {
        if (typeof x === 'string') return parseAcceleratorString(x.trim());
        if (isPlainObject(x)) {
          const r = parseAcceleratorDict(x);
          if (!r.ok) return r;
          if (r.value.length !== 1)
            return fail(
              `${ACCELERATOR_EXPECTED}; each list item is one accelerator, got a mapping with ${r.value.length} keys`,
            );
          return ok(r.value[0]);
        }
        return fail(`${ACCELERATOR_EXPECTED}, got ${describe(x)} in the list`);
      },
      true,
    );
  }
  if (isPlainObject(v)) return parseAcceleratorDict(v);
  return fail(`${ACCELERATOR_EXPECTED}, got ${describe(v)}`);
}

function parseAcceleratorDict(d: Record<string, unknown>): Parsed<AcceleratorRequest[]> {
  const keys = Object.keys(d);
  if (keys.length === 0) return fail(`${ACCELERATOR_EXPECTED}, got an empty mapping`);
  const out: AcceleratorRequest[] = [];
  for (const key of keys) {
    const value = d[key];
    let req: Parsed<AcceleratorRequest>;
    if (key.includes(':')) {
      // Unquoted {A100:8, H100:8} in YAML: keys carry the count, values are null.
      if (value !== null && value !== undefined) {
        return fail(
          `${ACCELERATOR_EXPECTED}; '${key}' already has a count, so its value must be empty, got ${describe(value)}`,
          [key],
        );
      }
      req = parseAcceleratorString(key);
    } else {
      const name = parseAcceleratorName(key, key);
      if (!name.ok) return within(name, key);
      const count = parseCount(value, name.value);
      req = count.ok ? ok({ name: name.value, count: count.value }) : count;
    }
    if (!req.ok) return within(req, key);
    out.push(req.value);
  }
  return ok(dedupeAccelerators(out));
}

function collect<I, T>(items: I[], f: (x: I) => Parsed<T>, index: boolean): Parsed<T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = f(items[i]);
    if (!r.ok) return index ? within(r, i) : r;
    out.push(r.value);
  }
  return ok(out);
}

function dedupeAccelerators(xs: AcceleratorRequest[]): AcceleratorRequest[] {
  const seen = new Set<string>();
  return xs.filter((x) => {
    const k = `${x.name}:${x.count}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Formats an accelerator back (`A100:8`, `T4` for count 1). */
export function formatAccelerator(a: AcceleratorRequest): string {
  return a.count === 1 ? a.name : `${a.name}:${a.count}`;
}

// ---------------------------------------------------------------------------
// cpus / memory

/**
 * vCPUs (`what = 'cpus'`) or GiB of memory per node: a number or a string
 * `"4"` (exactly) / `"4+"` (at least). Must be > 0. The newer SkyPilot form
 * `"4x"` (memory per vCPU) is not supported yet and says so.
 */
export function parseQuantity(v: unknown, what: 'cpus' | 'memory'): Parsed<Quantity> {
  const unit = what === 'cpus' ? 'vCPUs' : 'GiB of memory';
  const example = what === 'cpus' ? '4, "4" or "4+" (at least 4)' : '16, "16" or "16+" (at least 16)';
  const expected = `expected a positive number of ${unit} like ${example}`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) return fail(`${expected}, got ${describe(v)}`);
    return ok({ value: v, orMore: false });
  }
  if (typeof v !== 'string') return fail(`${expected}, got ${describe(v)}`);
  const s = v.trim();
  if (what === 'memory' && /^\d+(\.\d+)?\s*[xX]\+?$/.test(s)) {
    return fail(`memory per vCPU (${describe(v)}) is not supported yet; ${expected}`);
  }
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(\+?)$/.exec(s);
  if (!m) return fail(`${expected}, got ${describe(v)}`);
  const n = Number(m[1]);
  if (!Number.isFinite(n) || n <= 0) return fail(`${expected}, got ${describe(v)}`);
  return ok({ value: n, orMore: m[2] === '+' });
}

/** Formats a quantity back (`4`, `4+`). */
export function formatQuantity(q: Quantity): string {
  return `${q.value}${q.orMore ? '+' : ''}`;
}

// ---------------------------------------------------------------------------
// Ports

const PORTS_EXPECTED = 'expected a port (1-65535) or range like 8080, "8080", "10000-10010" or a list of these';

function parsePortNumber(s: string, whole: unknown): Parsed<number> {
  if (!/^\d+$/.test(s)) return fail(`${PORTS_EXPECTED}, got ${describe(whole)}`);
  const n = Number(s);
  if (n < 1 || n > 65535) return fail(`${PORTS_EXPECTED}, got ${describe(whole)} (ports are 1-65535)`);
  return ok(n);
}

function parseOnePort(v: unknown): Parsed<PortRange> {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return fail(`${PORTS_EXPECTED}, got ${describe(v)}`);
    const p = parsePortNumber(String(v), v);
    return p.ok ? ok({ from: p.value, to: p.value }) : p;
  }
  if (typeof v !== 'string') return fail(`${PORTS_EXPECTED}, got ${describe(v)}`);
  const s = v.trim();
  const dash = s.indexOf('-');
  if (dash < 0) {
    const p = parsePortNumber(s, v);
    return p.ok ? ok({ from: p.value, to: p.value }) : p;
  }
  const from = parsePortNumber(s.slice(0, dash).trim(), v);
  if (!from.ok) return from;
  const to = parsePortNumber(s.slice(dash + 1).trim(), v);
  if (!to.ok) return to;
  if (from.value > to.value) {
    return fail(`${PORTS_EXPECTED}, got ${describe(v)} (the range starts after it ends)`);
  }
  return ok({ from: from.value, to: to.value });
}

/** `ports`: int, `"8080"`, `"10000-10010"`, or a list of these. */
export function parsePorts(v: unknown): Parsed<PortRange[]> {
  if (v === null || v === undefined) return ok([]);
  if (Array.isArray(v)) return collect(v, parseOnePort, true);
  const one = parseOnePort(v);
  return one.ok ? ok([one.value]) : one;
}

/** Formats ports back (`8080`, `10000-10010`). */
export function formatPorts(ports: PortRange[]): string[] {
  return ports.map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`));
}

// ---------------------------------------------------------------------------
// Disk size

const DISK_EXPECTED = 'expected a disk size in GB like 256, "256GB" or "1TB"';

/** `disk_size`: positive integer GB, or a string with a GB/TB unit. */
export function parseDiskSize(v: unknown): Parsed<number> {
  let n: number;
  if (typeof v === 'number') {
    n = v;
  } else if (typeof v === 'string') {
    const m = /^(\d+(?:\.\d+)?)\s*(gb|g|gib|tb|t|tib)?$/i.exec(v.trim());
    if (!m) return fail(`${DISK_EXPECTED}, got ${describe(v)}`);
    n = Number(m[1]);
    const unit = (m[2] ?? 'gb').toLowerCase();
    if (unit.startsWith('t')) n = n * 1024;
  } else {
    return fail(`${DISK_EXPECTED}, got ${describe(v)}`);
  }
  if (!Number.isInteger(n) || n <= 0)
    return fail(`${DISK_EXPECTED} (a positive whole number of GB), got ${describe(v)}`);
  return ok(n);
}

// ---------------------------------------------------------------------------
// Enums

export const DISK_TIERS = ['low', 'medium', 'high', 'ultra', 'best'] as const;
export type DiskTier = (typeof DISK_TIERS)[number];
export const NETWORK_TIERS = ['standard', 'best'] as const;
export type NetworkTier = (typeof NETWORK_TIERS)[number];
export const WAIT_FOR = ['jobs_and_ssh', 'jobs', 'none'] as const;
export const RECOVERY_STRATEGIES = ['EAGER_NEXT_REGION', 'FAILOVER'] as const;

/** Case-insensitive match of `v` against `allowed`, with a suggestion on a miss. */
export function parseEnum<T extends string>(v: unknown, allowed: readonly T[], what: string): Parsed<T> {
  if (typeof v !== 'string') return fail(`expected ${what} (one of ${quoteList(allowed)}), got ${describe(v)}`);
  const s = v.trim().toLowerCase();
  const hit = allowed.find((a) => a.toLowerCase() === s);
  if (hit !== undefined) return ok(hit);
  return fail(unknownMessage(what, v, allowed));
}

export function parseDiskTier(v: unknown): Parsed<DiskTier> {
  return parseEnum(v, DISK_TIERS, 'disk tier');
}
export function parseNetworkTier(v: unknown): Parsed<NetworkTier> {
  return parseEnum(v, NETWORK_TIERS, 'network tier');
}

// ---------------------------------------------------------------------------
// Autostop

const AUTOSTOP_EXPECTED =
  'expected autostop as true, false, idle minutes (10), a duration ("10m", "1h", "1d") or {idle_minutes, down, wait_for, hook, hook_timeout}';
const AUTOSTOP_KEYS = ['idle_minutes', 'down', 'wait_for', 'hook', 'hook_timeout'];
/** Idle minutes when autostop is `true` or a mapping without idle_minutes. */
export const DEFAULT_AUTOSTOP_MINUTES = 5;

function parseMinutes(v: unknown): Parsed<number> {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0)
      return fail(`${AUTOSTOP_EXPECTED}; idle minutes must be a whole number >= 0, got ${describe(v)}`);
    return ok(v);
  }
  if (typeof v === 'string') {
    const m = /^(\d+)\s*(m|min|h|hr|d)?$/i.exec(v.trim());
    if (!m) return fail(`${AUTOSTOP_EXPECTED}, got ${describe(v)} (units are m, h or d)`);
    const n = Number(m[1]);
    const unit = (m[2] ?? 'm').toLowerCase();
    return ok(unit.startsWith('h') ? n * 60 : unit === 'd' ? n * 1440 : n);
  }
  return fail(`${AUTOSTOP_EXPECTED}, got ${describe(v)}`);
}

/**
 * `autostop`: `true` (5 idle minutes, stop), `false`/null (none: undefined),
 * minutes, `"10m"`/`"1h"`/`"1d"`, or a mapping {idle_minutes, down, wait_for,
 * hook, hook_timeout}.
 */
export function parseAutostop(v: unknown): Parsed<AutostopSpec | undefined> {
  if (v === false || v === null || v === undefined) return ok(undefined);
  if (v === true) return ok({ idleMinutes: DEFAULT_AUTOSTOP_MINUTES, down: false });
  if (typeof v === 'number' || typeof v === 'string') {
    const m = parseMinutes(v);
    return m.ok ? ok({ idleMinutes: m.value, down: false }) : m;
  }
  if (!isPlainObject(v)) return fail(`${AUTOSTOP_EXPECTED}, got ${describe(v)}`);
  for (const k of Object.keys(v)) {
    if (!AUTOSTOP_KEYS.includes(k)) {
      return fail(
        unknownMessage('field', k, AUTOSTOP_KEYS, `expected one of the autostop fields: ${quoteList(AUTOSTOP_KEYS)}`),
        [k],
      );
    }
  }
  const spec: AutostopSpec = { idleMinutes: DEFAULT_AUTOSTOP_MINUTES, down: false };
  if (v.idle_minutes !== undefined && v.idle_minutes !== null) {
    const m = parseMinutes(v.idle_minutes);
    if (!m.ok) return within(m, 'idle_minutes');
    spec.idleMinutes = m.value;
  }
  if (v.down !== undefined && v.down !== null) {
    if (typeof v.down !== 'boolean') return fail(`expected down as true or false, got ${describe(v.down)}`, ['down']);
    spec.down = v.down;
  }
  if (v.wait_for !== undefined && v.wait_for !== null) {
    const w = parseEnum(v.wait_for, WAIT_FOR, 'wait_for');
    if (!w.ok) return within(w, 'wait_for');
    spec.waitFor = w.value;
  }
  if (v.hook !== undefined && v.hook !== null) {
    if (typeof v.hook !== 'string')
      return fail(`expected hook as a shell command string, got ${describe(v.hook)}`, ['hook']);
    spec.hook = v.hook;
  }
  if (v.hook_timeout !== undefined && v.hook_timeout !== null) {
    const t = v.hook_timeout;
    if (typeof t !== 'number' || !Number.isInteger(t) || t <= 0) {
      return fail(`expected hook_timeout as a positive whole number of seconds, got ${describe(t)}`, ['hook_timeout']);
    }
    spec.hookTimeoutSeconds = t;
  }
  return ok(spec);
}

// ---------------------------------------------------------------------------
// Job recovery

const JOB_RECOVERY_KEYS = ['strategy', 'max_restarts_on_errors', 'recover_on_exit_codes'];

function parseStrategy(v: unknown): Parsed<JobRecoverySpec['strategy']> {
  if (v === null || v === undefined) return ok('EAGER_NEXT_REGION');
  if (typeof v !== 'string') {
    return fail(`expected a recovery strategy (one of ${quoteList(RECOVERY_STRATEGIES)}), got ${describe(v)}`);
  }
  const s = v.trim().toUpperCase().replace(/-/g, '_');
  const hit = RECOVERY_STRATEGIES.find((x) => x === s);
  if (hit !== undefined) return ok(hit);
  return fail(unknownMessage('recovery strategy', v, RECOVERY_STRATEGIES));
}

/**
 * `job_recovery` (or legacy `spot_recovery`): a strategy name
 * (case-insensitive EAGER_NEXT_REGION | FAILOVER) or
 * {strategy, max_restarts_on_errors (int >= 0), recover_on_exit_codes (int or list, 0-255)}.
 */
export function parseJobRecovery(v: unknown): Parsed<JobRecoverySpec> {
  const spec: JobRecoverySpec = { strategy: 'EAGER_NEXT_REGION', maxRestartsOnErrors: 0, recoverOnExitCodes: [] };
  if (v === null || v === undefined) return ok(spec);
  if (typeof v === 'string') {
    const s = parseStrategy(v);
    if (!s.ok) return s;
    spec.strategy = s.value;
    return ok(spec);
  }
  if (!isPlainObject(v)) {
    return fail(
      `expected job_recovery as a strategy name (${quoteList(RECOVERY_STRATEGIES)}) or {strategy, max_restarts_on_errors, recover_on_exit_codes}, got ${describe(v)}`,
    );
  }
  for (const k of Object.keys(v)) {
    if (!JOB_RECOVERY_KEYS.includes(k)) {
      return fail(
        unknownMessage(
          'field',
          k,
          JOB_RECOVERY_KEYS,
          `expected one of the job_recovery fields: ${quoteList(JOB_RECOVERY_KEYS)}`,
        ),
        [k],
      );
    }
  }
  const s = parseStrategy(v.strategy);
  if (!s.ok) return within(s, 'strategy');
  spec.strategy = s.value;
  const mr = v.max_restarts_on_errors;
  if (mr !== undefined && mr !== null) {
    if (typeof mr !== 'number' || !Number.isInteger(mr) || mr < 0) {
      return fail(`expected max_restarts_on_errors as a whole number >= 0, got ${describe(mr)}`, [
        'max_restarts_on_errors',
      ]);
    }
    spec.maxRestartsOnErrors = mr;
  }
  const codes = v.recover_on_exit_codes;
  if (codes !== undefined && codes !== null) {
    const list = Array.isArray(codes) ? codes : [codes];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c > 255) {
        const at: (string | number)[] = Array.isArray(codes) ? ['recover_on_exit_codes', i] : ['recover_on_exit_codes'];
        return fail(`expected recover_on_exit_codes as an exit code (0-255) or a list of them, got ${describe(c)}`, at);
      }
      if (!spec.recoverOnExitCodes.includes(c)) spec.recoverOnExitCodes.push(c);
    }
  }
  return ok(spec);
}

/** The suggestion helper, re-exported for callers that only import resources. */
export { nearest };
