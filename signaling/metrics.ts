/** Prometheus metrics of one signaling instance, in a registry of its own (tests run several at once). */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** What the relay gauges read of each relay (turn/fleet/registry.ts `RelayStatus` fits). */
export interface RelayGaugeSource {
  id: string;
  region: string | undefined;
  healthy: boolean;
  /** ms */
  lastRtt: number | undefined;
}

export class SignalingMetrics {
  readonly registry = new Registry();
  readonly messagesIn = new Counter({
    name: 'signaling_messages_in_total',
    help: 'Valid client messages received, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly messagesOut = new Counter({
    name: 'signaling_messages_out_total',
    help: 'Messages sent to clients, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'signaling_errors_total',
    help: 'Protocol errors sent or connections closed, by code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly authFailures = new Counter({
    name: 'signaling_auth_failures_total',
    help: 'Refused upgrades, by HTTP status and reason',
    labelNames: ['status', 'reason'] as const,
    registers: [this.registry],
  });
  readonly resumes = new Counter({
    name: 'signaling_resumes_total',
    help: 'Session resume attempts, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  /** `gauges` are read at scrape time, so they are never stale and cost nothing per event. */
  constructor(
    nodeId: string,
    gauges: { connections: () => number; rooms: () => number; relays?: () => readonly RelayGaugeSource[] },
    options: { processMetrics?: boolean } = {},
  ) {
    this.registry.setDefaultLabels({ node: nodeId });
    new Gauge({
      name: 'signaling_connections',
      help: 'Open WebSocket connections',
      registers: [this.registry],
      collect() {
        this.set(gauges.connections());
      },
    });
    new Gauge({
      name: 'signaling_rooms',
      help: 'Rooms with at least one member',
      registers: [this.registry],
      collect() {
        this.set(gauges.rooms());
      },
    });
    const relays = gauges.relays;
    if (relays) {
      new Gauge({
        name: 'signaling_relay_healthy',
        help: 'Relay health from probes: 1 handed out to clients, 0 left out (see TURN_PROBE_*)',
        labelNames: ['relay', 'region'] as const,
        registers: [this.registry],
        collect() {
          // Reset first, so the labels are exactly the configured relays.
          this.reset();
          for (const r of relays()) this.set({ relay: r.id, region: r.region ?? '' }, r.healthy ? 1 : 0);
        },
      });
      new Gauge({
        name: 'signaling_relay_probe_rtt_seconds',
        help: 'Round trip of the last answered probe from this instance, per relay',
        labelNames: ['relay'] as const,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const r of relays()) if (r.lastRtt !== undefined) this.set({ relay: r.id }, r.lastRtt / 1000);
        },
      });
    }
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
