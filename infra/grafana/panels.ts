/**
 * The operator dashboard, defined once: each panel's title, unit and PromQL. `npm run dashboard` writes
 * the Grafana JSON (`relay-platform.json`) from it and renders the PNG of a real run; the infra test
 * checks that every expression names only metrics a running server exports.
 */
export interface PanelQuery {
  expr: string;
  legend: string;
}

export interface PanelSpec {
  title: string;
  unit: 's' | 'short' | 'percentunit' | 'Bps' | 'ops';
  queries: PanelQuery[];
  /** Drawn as stacked shares (the paths panel). */
  stacked?: boolean;
}

const q = (expr: string, legend: string): PanelQuery => ({ expr, legend });
const quantile = (p: number, metric: string, by = '') =>
  `histogram_quantile(${p}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket[5m])))`;

export const PANELS: PanelSpec[] = [
  {
    title: 'Signaling connections and rooms',
    unit: 'short',
    queries: [q('sum(signaling_connections)', 'connections'), q('sum(signaling_rooms)', 'rooms')],
  },
  {
    title: 'Signal relay time (server side)',
    unit: 's',
    queries: [
      q(quantile(0.5, 'signaling_signal_relay_seconds'), 'p50'),
      q(quantile(0.95, 'signaling_signal_relay_seconds'), 'p95'),
      q(quantile(0.99, 'signaling_signal_relay_seconds'), 'p99'),
    ],
  },
  {
    title: 'WebSocket accept time',
    unit: 's',
    queries: [
      q(quantile(0.5, 'signaling_accept_seconds'), 'p50'),
      q(quantile(0.95, 'signaling_accept_seconds'), 'p95'),
    ],
  },
  {
    title: 'Call setup reported by clients (p95 by path)',
    unit: 's',
    queries: [q(quantile(0.95, 'signaling_client_call_setup_seconds', 'path'), '{{path}}')],
  },
  {
    title: 'Peer pairs by path, per region (share, last hour)',
    unit: 'percentunit',
    stacked: true,
    queries: [
      q(
        'sum by (region, path) (increase(signaling_client_call_setup_seconds_count[1h])) / ignoring(path) group_left sum by (region) (increase(signaling_client_call_setup_seconds_count[1h]))',
        '{{region}} {{path}}',
      ),
    ],
  },
  {
    title: 'Relay health (1 = handed out)',
    unit: 'short',
    queries: [q('min by (relay, region) (signaling_relay_healthy)', '{{relay}} {{region}}')],
  },
  {
    title: 'TURN allocations by client transport',
    unit: 'short',
    queries: [q('sum by (transport) (turn_allocations_active)', '{{transport}}')],
  },
  {
    title: 'TURN Allocate: failures (challenge excluded) and successes',
    unit: 'ops',
    queries: [
      q('sum(rate(turn_allocate_total{result="success"}[5m]))', 'success'),
      q('sum by (result) (rate(turn_allocate_total{result!~"success|challenge"}[5m]))', '{{result}}'),
    ],
  },
  {
    title: 'Relayed traffic',
    unit: 'Bps',
    queries: [q('sum by (direction) (rate(turn_relayed_bytes_total[5m]))', '{{direction}}')],
  },
  {
    title: 'Allocation lifetime',
    unit: 's',
    queries: [
      q(quantile(0.5, 'turn_allocation_lifetime_seconds'), 'p50'),
      q(quantile(0.95, 'turn_allocation_lifetime_seconds'), 'p95'),
    ],
  },
  {
    title: 'Refused upgrades and protocol errors',
    unit: 'ops',
    queries: [
      q('sum by (status) (rate(signaling_auth_failures_total[5m]))', 'refused {{status}}'),
      q('sum by (code) (rate(signaling_errors_total[5m]))', '{{code}}'),
    ],
  },
  {
    title: 'Dropped relay packets and denied peers',
    unit: 'ops',
    queries: [
      q('sum by (reason) (rate(turn_dropped_total[5m]))', 'dropped {{reason}}'),
      q('sum(rate(turn_permission_denied_total[5m]))', 'peer denied'),
    ],
  },
];

/** The Grafana dashboard JSON (schema 39, a Prometheus data source chosen at import). */
export function grafanaDashboard(): unknown {
  return {
    title: 'relay-platform',
    uid: 'relay-platform',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }],
    },
    panels: PANELS.map((p, i) => ({
      id: i + 1,
      type: 'timeseries',
      title: p.title,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: {
        defaults: {
          unit: p.unit,
          ...(p.stacked ? { custom: { stacking: { mode: 'normal' }, fillOpacity: 60 } } : {}),
        },
        overrides: [],
      },
      targets: p.queries.map((query, j) => ({
        refId: String.fromCharCode(65 + j),
        expr: query.expr,
        legendFormat: query.legend,
      })),
    })),
  };
}
