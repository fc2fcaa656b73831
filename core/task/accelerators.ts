// Accelerators: names (canonical casing when known), counts, and every form
// `accelerators` (or --gpus) accepts. Pure TypeScript, bundle-safe.

import { collect, describe, fail, isPlainObject, ok, within } from './parsed';
import type { Parsed } from './parsed';

/** Accelerator name (canonical casing when known) and count per node (may be fractional). */
export interface AcceleratorRequest {
  name: string;
  count: number;
}

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
