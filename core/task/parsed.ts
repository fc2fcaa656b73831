// The result type of the value parsers (infra.ts, accelerators.ts, values.ts)
// and the helpers they share. Pure TypeScript, bundle-safe.
//
// Every parser takes a plain JS value (what YAML gave, or a flag's string) and
// returns a Parsed<T>: either { ok: true, value } or { ok: false, error } where
// `error` says what was expected and what was given. `at`, when present, is the
// path inside the value (mapping key or list index) of the part that is wrong,
// so the task parser can point at its line and column.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; at?: (string | number)[] };

export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
export function fail<T>(error: string, at?: (string | number)[]): Parsed<T> {
  return at && at.length > 0 ? { ok: false, error, at } : { ok: false, error };
}
/** Prefixes `at` with a path component (used when a parser calls another). */
export function within<T>(r: Parsed<T>, prefix: string | number): Parsed<T> {
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

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function quoteList(xs: readonly string[]): string {
  return xs.join(', ');
}

/** Parses each item with `f`; the first failure wins (with its index in `at` when `index`). */
export function collect<I, T>(items: I[], f: (x: I) => Parsed<T>, index: boolean): Parsed<T[]> {
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = f(items[i]);
    if (!r.ok) return index ? within(r, i) : r;
    out.push(r.value);
  }
  return ok(out);
}
