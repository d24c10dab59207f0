/**
 * The dashboard and the alert rules cannot name a metric the code does not export: a real `npm start`
 * (signaling with its bundled relay) is scraped, and every expression's metric names must be in it. The
 * committed Grafana JSON must be the one `infra/grafana/panels.ts` makes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { grafanaDashboard, PANELS } from './grafana/panels.js';
import {
  ROOT,
  SIGNALING_STARTED,
  freeTcpPort,
  freeUdpPort,
  startScript,
  type Proc,
} from '../test-support/processes.js';

/** Names in an expression that look like ours or the Node client's (label values are quoted, so skipped). */
function metricNames(expr: string): string[] {
  const unquoted = expr.replace(/"[^"]*"/g, '""');
  return [...unquoted.matchAll(/\b(?:signaling|turn|process|nodejs)_[a-z0-9_]+\b|\bup\b(?=\{)/g)].map(
    (m) => m[0],
  );
}

/** Every series name a scrape holds: `# TYPE` lines, with a histogram's _bucket, _sum and _count. */
function exported(text: string): Set<string> {
  const names = new Set<string>(['up']);
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name!}${s}`);
  }
  return names;
}

interface Rule {
  alert: string;
  expr: string;
  annotations?: { runbook?: string };
}

describe('dashboard and alerts match the metrics a running server exports', () => {
  let proc: Proc;
  let names: Set<string>;

  beforeAll(async () => {
    const port = await freeTcpPort();
    proc = startScript('signaling/main.ts', [], {
      PORT: String(port),
      HOST: '127.0.0.1',
      TURN_PORT: String(await freeUdpPort()),
      TURN_TLS_PORT: '0',
      TURN_EMBEDDED_REGION: 'eu',
    });
    await proc.waitFor(SIGNALING_STARTED, 60_000);
    names = exported(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  }, 90_000);
  afterAll(async () => {
    proc.kill('SIGTERM');
    await proc.exited;
  });

  it('every dashboard panel queries only exported metrics', () => {
    for (const panel of PANELS)
      for (const { expr } of panel.queries) {
        const used = metricNames(expr);
        expect(used.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of used) expect(names, `${panel.title}: ${name}`).toContain(name);
      }
  });

  it('every alert rule queries only exported metrics and links a runbook that exists', () => {
    const rules = (
      parse(readFileSync(join(ROOT, 'infra/prometheus/alerts.yaml'), 'utf8')) as {
        groups: Array<{ rules: Rule[] }>;
      }
    ).groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(5);
    const guide = readFileSync(join(ROOT, 'infra/README.md'), 'utf8');
    const anchors = new Set(
      [...guide.matchAll(/^#{2,4} (.+)$/gm)].map((m) =>
        m[1]!
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    for (const rule of rules) {
      const used = metricNames(rule.expr);
      expect(used.length, rule.alert).toBeGreaterThan(0);
      for (const name of used) expect(names, `${rule.alert}: ${name}`).toContain(name);
      const anchor = rule.annotations?.runbook?.split('#')[1];
      expect(anchors, `${rule.alert}: runbook #${anchor}`).toContain(anchor);
    }
  });

  it('the committed Grafana JSON is the one the panel list makes', () => {
    const committed: unknown = JSON.parse(
      readFileSync(join(ROOT, 'infra/grafana/relay-platform.json'), 'utf8'),
    );
    expect(committed).toEqual(grafanaDashboard());
  });

  it('the names follow the Prometheus conventions: no constant node label, units last', () => {
    for (const name of names) {
      if (!/^(signaling|turn)_/.test(name)) continue;
      expect(name, 'counters end in _total').not.toMatch(/_total_/);
      expect(name).not.toMatch(/_(bytes|seconds|packets)_(?!total$|bucket$|sum$|count$)/);
    }
    expect(names).toContain('turn_relayed_bytes_total');
    expect(names).not.toContain('turn_bytes_relayed_total');
  });
});
