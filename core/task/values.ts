// The other value forms of resources (and of the flags --cpus, --memory,
// --ports, --disk-size): quantities, ports, disk size, tiers, autostop and job
// recovery. Pure TypeScript, bundle-safe.

import { unknownMessage } from '../suggest';
import { collect, describe, fail, isPlainObject, ok, quoteList, within } from './parsed';
import type { Parsed } from './parsed';

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

// ---------------------------------------------------------------------------
// num_nodes

/** num_nodes / --num-nodes at most (bounds what one task may ask a worker to provision). */
export const MAX_NUM_NODES = 1000;

/** `num_nodes` / --num-nodes: 1 to MAX_NUM_NODES, as a number or decimal digits. */
export function parseNumNodes(v: unknown): Parsed<number> {
  const n = typeof v === 'string' && /^\s*\d{1,16}\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
    return fail(`expected a positive integer, got ${describe(v)}`);
  if (n > MAX_NUM_NODES)
    return fail(`expected a positive integer, got ${describe(v)} (at most ${MAX_NUM_NODES} nodes)`);
  return ok(n);
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
  // memory may carry SkyPilot's units (B, K/KB/Ki ... P/PB/Pi, any case): converted to GiB
  const units = what === 'memory' ? '(b|kb|ki|k|mb|mi|m|gb|gi|g|tb|ti|t|pb|pi|p)?' : '()';
  const m = new RegExp(`^(\\d+(?:\\.\\d+)?|\\.\\d+)\\s*${units}\\s*(\\+?)$`, 'i').exec(s);
  if (!m) return fail(`${expected}, got ${describe(v)}`);
  const n = Number(m[1]) * (m[2] ? MEMORY_UNIT_GIB[m[2][0].toLowerCase()] : 1);
  if (!Number.isFinite(n) || n <= 0) return fail(`${expected}, got ${describe(v)}`);
  return ok({ value: n, orMore: m[3] === '+' });
}

/** SkyPilot's memory size units (b, k/kb/ki ... p/pb/pi: powers of 1024) in GiB. */
const MEMORY_UNIT_GIB: Record<string, number> = {
  b: 2 ** -30,
  k: 2 ** -20,
  m: 2 ** -10,
  g: 1,
  t: 1024,
  p: 1024 * 1024,
};

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
    const m = /^(\d{1,15})\s*(gb|g|gib|gi|tb|t|tib|ti)?$/i.exec(v.trim());
    if (!m) return fail(`${DISK_EXPECTED}, got ${describe(v)}`);
    n = Number(m[1]);
    const unit = (m[2] ?? 'gb').toLowerCase();
    if (unit.startsWith('t')) n = n * 1024;
  } else {
    return fail(`${DISK_EXPECTED}, got ${describe(v)}`);
  }
  if (!Number.isSafeInteger(n) || n <= 0)
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

export const JOB_RECOVERY_KEYS = ['strategy', 'max_restarts_on_errors', 'recover_on_exit_codes'];

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
