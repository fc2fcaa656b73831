/** Summary figures the benchmarks print. */
export function stats(xs: number[], unit = 'ms'): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  const f = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(0));
  return `median ${f(q(0.5))} ${unit}  p90 ${f(q(0.9))} ${unit}  min ${f(s[0]!)} ${unit}  (n=${s.length})`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
