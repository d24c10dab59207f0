/** Small statistics for the bench: medians and percentiles of samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
export const median = (samples: readonly number[]) => percentile(samples, 50);
export const round = (n: number, digits = 2) => Number(n.toFixed(digits));
