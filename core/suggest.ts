// "Did you mean" suggestions by edit distance. Pure TypeScript, bundle-safe.

/**
 * Optimal-string-alignment edit distance (Levenshtein plus adjacent
 * transpositions, so "gpc" is one edit away from "gcp").
 */
export function editDistance(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  // Three rolling rows are enough for OSA.
  let prev2: number[] = new Array<number>(m + 1).fill(0);
  let prev: number[] = Array.from({ length: m + 1 }, (_, j) => j);
  let cur: number[] = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, prev2[j - 2] + 1);
      }
      cur[j] = d;
    }
    const t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[m];
}

/**
 * The candidate nearest to `name` (case-insensitive), or undefined when none is
 * reasonably close: at most one edit for short words, about a third of the
 * longer word's length otherwise. Ties go to the earlier candidate.
 */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  const needle = name.toLowerCase();
  if (needle.length === 0) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    if (c === needle) return candidate;
    const d = editDistance(needle, c);
    const limit = Math.max(1, Math.floor(Math.max(needle.length, c.length) / 3));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** `; did you mean 'x'?` when a close candidate exists, otherwise ''. */
export function didYouMean(name: string, candidates: readonly string[]): string {
  const n = nearest(name, candidates);
  return n === undefined ? '' : `; did you mean '${n}'?`;
}

/**
 * `unknown <kind> '<name>'; did you mean '<x>'? expected one of a, b, c`
 * (without the suggestion when nothing is close).
 */
export function unknownMessage(kind: string, name: string, candidates: readonly string[], expected?: string): string {
  const hint = didYouMean(name, candidates);
  const list = expected ?? `expected one of ${candidates.join(', ')}`;
  return `unknown ${kind} '${name}'${hint}${hint ? ' ' : '; '}${list}`;
}
