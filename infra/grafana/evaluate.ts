/**
 * Evaluates the dashboard's expressions over a series of /metrics scrapes, for the picture in the
 * operator guide (no Prometheus or Grafana runs here). It understands exactly the forms `panels.ts`
 * uses: a gauge summed or min'd by labels, `sum by (...) (rate(m{sel}[w]))`, `histogram_quantile` over
 * summed bucket rates, and the share of `_count` increases by region and path. Anything else throws, so
 * a new panel form cannot be drawn wrong silently. Rates use the run's own window (`windowS`) instead of
 * the dashboard's 5 minutes, as the run lasts about one.
 */

/** One scrape: time (s since start) and every sample by series key `name{a="x",b="y"}`. */
export interface Scrape {
  t: number;
  samples: Map<string, { name: string; labels: Record<string, string>; value: number }>;
}

export function parseExposition(text: string, t: number): Scrape {
  const samples: Scrape['samples'] = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    samples.set(`${m[1]!}{${m[2] ?? ''}}`, { name: m[1]!, labels, value: Number(m[3]) });
  }
  return { t, samples };
}

export type Series = Map<string, Array<[number, number]>>;

type Matcher = (labels: Record<string, string>) => boolean;
function selector(sel: string | undefined): Matcher {
  const tests = [...(sel ?? '').matchAll(/(\w+)(=~|!~|!=|=)"([^"]*)"/g)].map(([, k, op, v]) => {
    const re = new RegExp(`^(?:${v!})$`);
    return (l: Record<string, string>) => {
      const x = l[k!] ?? '';
      return op === '=' ? x === v : op === '!=' ? x !== v : op === '=~' ? re.test(x) : !re.test(x);
    };
  });
  return (l) => tests.every((f) => f(l));
}

const byKey = (labels: Record<string, string>, by: string[]) =>
  by.map((b) => `${b}=${labels[b] ?? ''}`).join(',');
const legendOf = (legend: string, key: string) => {
  const values = Object.fromEntries(
    key
      .split(',')
      .filter(Boolean)
      .map((kv) => kv.split('=') as [string, string]),
  );
  return legend.replace(/\{\{(\w+)\}\}/g, (_, k: string) => values[k] || '-');
};

/** Sum (or min) of matching samples grouped by `by`, at one scrape. */
function aggregate(s: Scrape, name: string, match: Matcher, by: string[], op: 'sum' | 'min') {
  const out = new Map<string, number>();
  for (const x of s.samples.values()) {
    if (x.name !== name || !match(x.labels)) continue;
    const k = byKey(x.labels, by);
    const prev = out.get(k);
    out.set(k, prev === undefined ? x.value : op === 'sum' ? prev + x.value : Math.min(prev, x.value));
  }
  return out;
}

/** Prometheus' histogram_quantile: linear interpolation inside the bucket holding the rank. */
function quantile(q: number, buckets: Array<[number, number]>): number {
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-12);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** Every series one expression draws over the scrapes, named by its legend. */
export function evaluate(expr: string, legend: string, scrapes: Scrape[], windowS: number): Series {
  const out: Series = new Map();
  const push = (key: string, t: number, v: number) => {
    if (!Number.isFinite(v)) return;
    const name = legendOf(legend, key);
    if (!out.has(name)) out.set(name, []);
    out.get(name)!.push([t, v]);
  };
  const earlier = (i: number) => {
    let j = i;
    while (j > 0 && scrapes[i]!.t - scrapes[j - 1]!.t <= windowS) j--;
    return j;
  };
  let m: RegExpExecArray | null;
  if (
    (m = /^histogram_quantile\(([\d.]+), sum by \(le(?:, (\w+))?\) \(rate\((\w+)\[\w+\]\)\)\)$/.exec(expr))
  ) {
    const [, q, by, name] = m;
    scrapes.forEach((s, i) => {
      const j = earlier(i);
      if (j === i) return;
      const groups = new Map<string, Array<[number, number]>>();
      const now = aggregate(s, name!, () => true, ['le', ...(by ? [by] : [])], 'sum');
      const then = aggregate(scrapes[j]!, name!, () => true, ['le', ...(by ? [by] : [])], 'sum');
      for (const [k, v] of now) {
        const le = Number(k.split(',')[0]!.slice(3).replace('+Inf', 'Infinity'));
        const g = k.split(',').slice(1).join(',');
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g)!.push([le, v - (then.get(k) ?? 0)]);
      }
      for (const [g, buckets] of groups) push(g, s.t, quantile(Number(q), buckets));
    });
    return out;
  }
  if ((m = /^sum(?: by \(([\w, ]+)\))? ?\(rate\((\w+)(\{[^}]*\})?\[\w+\]\)\)$/.exec(expr))) {
    const [, by, name, sel] = m;
    const keys = by ? by.split(/,\s*/) : [];
    scrapes.forEach((s, i) => {
      const j = earlier(i);
      if (j === i) return;
      const dt = s.t - scrapes[j]!.t;
      const now = aggregate(s, name!, selector(sel), keys, 'sum');
      const then = aggregate(scrapes[j]!, name!, selector(sel), keys, 'sum');
      for (const [k, v] of now) push(k, s.t, Math.max(0, v - (then.get(k) ?? 0)) / dt);
    });
    return out;
  }
  if (
    (m = /^sum by \(region, path\) \(increase\((\w+)\[\w+\]\)\) \/ ignoring\(path\) group_left/.exec(expr))
  ) {
    const name = m[1]!;
    for (const s of scrapes) {
      const counts = aggregate(s, name, () => true, ['region', 'path'], 'sum');
      const totals = new Map<string, number>();
      for (const [k, v] of counts) totals.set(k.split(',')[0]!, (totals.get(k.split(',')[0]!) ?? 0) + v);
      for (const [k, v] of counts) {
        const total = totals.get(k.split(',')[0]!) ?? 0;
        if (total > 0) push(k, s.t, v / total);
      }
    }
    return out;
  }
  if ((m = /^(sum|min)(?: by \(([\w, ]+)\))? ?\((\w+)\)$/.exec(expr))) {
    const [, op, by, name] = m;
    for (const s of scrapes)
      for (const [k, v] of aggregate(s, name!, () => true, by ? by.split(/,\s*/) : [], op as 'sum' | 'min'))
        push(k, s.t, v);
    return out;
  }
  throw new Error(`evaluate: no evaluator for ${expr}`);
}
