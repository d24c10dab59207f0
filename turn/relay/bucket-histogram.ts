/**
 * A histogram as plain numbers: observed on the data path without prom-client (no label hashing), cloned
 * over IPC from the relay child to signaling with the rest of the counters, and exposed at scrape time by
 * `registerBucketHistogram` in the Prometheus histogram form (cumulative `_bucket{le}`, `_sum`, `_count`).
 */
import type { Registry } from 'prom-client';

export interface BucketHistogram {
  /** Upper bounds, ascending; +Inf is implied. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); one more than `bounds`, the last for +Inf. */
  readonly counts: number[];
  sum: number;
  count: number;
}

export function newBucketHistogram(bounds: readonly number[]): BucketHistogram {
  return { bounds, counts: new Array<number>(bounds.length + 1).fill(0), sum: 0, count: 0 };
}

export function observe(h: BucketHistogram, value: number): void {
  let i = 0;
  while (i < h.bounds.length && value > h.bounds[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

/** Expose `read()` in `registry` as the histogram `name` (prom-client's custom-metric interface). */
export function registerBucketHistogram(
  registry: Registry,
  name: string,
  help: string,
  read: () => BucketHistogram,
): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const h = read();
      let cumulative = 0;
      const values: Array<{ metricName: string; labels: Record<string, string>; value: number }> =
        h.counts.map((n, i) => {
          cumulative += n;
          const le = i < h.bounds.length ? String(h.bounds[i]) : '+Inf';
          return { metricName: `${name}_bucket`, labels: { le }, value: cumulative };
        });
      values.push(
        { metricName: `${name}_sum`, labels: {}, value: h.sum },
        { metricName: `${name}_count`, labels: {}, value: h.count },
      );
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
