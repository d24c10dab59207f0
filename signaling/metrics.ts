/**
 * Prometheus metrics of one signaling instance, in a registry of its own (tests run several at once).
 * Names follow the Prometheus conventions (base unit last, `_total` for counters); no constant label is
 * added here: the scrape adds `instance` and `pod`, and a `node` label would clash with Kubernetes' own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
  /**
   * Messages counted since the last scrape, by type. `Counter.inc({ type })` hashes and validates its
   * labels on every call, which the relay of every signal paid twice; a Map increment is what a per-message
   * count should cost, and `collect` moves the counts into the counters whenever they are read.
   */
  private readonly pendingIn = new Map<string, number>();
  private readonly pendingOut = new Map<string, number>();
  readonly messagesIn: Counter<'type'> = new Counter({
    name: 'signaling_messages_in_total',
    help: 'Valid client messages received, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
    collect: (): void => flush(this.pendingIn, this.messagesIn),
  });
  readonly messagesOut: Counter<'type'> = new Counter({
    name: 'signaling_messages_out_total',
    help: 'Messages sent to clients, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
    collect: (): void => flush(this.pendingOut, this.messagesOut),
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

  /**
   * From a signal frame's arrival to its hand-over to the recipient: validation, the queue behind the
   * sender's earlier messages, and the room bus (on one instance the write to the recipient's socket; with
   * Redis the publish). The network on either side is not in it.
   */
  readonly signalRelay = new Histogram({
    name: 'signaling_signal_relay_seconds',
    help: 'Server time of a relayed signal, from arrival to hand-over to the recipient (bus included)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly accept = new Histogram({
    name: 'signaling_accept_seconds',
    help: 'From the HTTP upgrade request to the open WebSocket (token, origin and limit checks, handshake)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  /**
   * Call setup as the SDK reports it (POST /v1/telemetry): from the moment a client learns of a peer to
   * the pair's first working path, and that path. Its `_count` by path and region is also the share of
   * peer pairs that go direct, through a relay, or stay on the WebSocket.
   */
  readonly callSetup = new Histogram({
    name: 'signaling_client_call_setup_seconds',
    help: 'Call setup reported by clients, by the path the pair settled on and the client region',
    labelNames: ['path', 'region'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60],
    registers: [this.registry],
  });
  readonly telemetryReports = new Counter({
    name: 'signaling_client_telemetry_reports_total',
    help: 'Client telemetry reports, by result (accepted, invalid, unauthorized, rate_limited)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  /** Count one valid client message of `type` (added to the counter at the next scrape). */
  countIn(type: string): void {
    this.pendingIn.set(type, (this.pendingIn.get(type) ?? 0) + 1);
  }

  /** Count one message of `type` sent to a client (added to the counter at the next scrape). */
  countOut(type: string): void {
    this.pendingOut.set(type, (this.pendingOut.get(type) ?? 0) + 1);
  }

  /** `gauges` are read at scrape time, so they are never stale and cost nothing per event. */
  constructor(
    gauges: {
      connections: () => number;
      rooms: () => number;
      relays?: () => readonly RelayGaugeSource[];
      /** Admission control's counts since start (connection/admission.ts). */
      admission?: () => { admitted: number; refused: number };
    },
    options: { processMetrics?: boolean } = {},
  ) {
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
    // What one connection costs: the process's growth since this registry was made (before the first
    // connection), divided by the connections open now. Read at scrape time only (memoryUsage() walks the
    // heap spaces); 0 with no connection.
    const baseline = process.memoryUsage();
    new Gauge({
      name: 'signaling_memory_per_connection_bytes',
      help: 'Process memory grown since start per open connection: rss (resident) and heap (V8 heap used)',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        const n = gauges.connections();
        const now = process.memoryUsage();
        this.set({ kind: 'rss' }, n > 0 ? Math.max(0, now.rss - baseline.rss) / n : 0);
        this.set({ kind: 'heap' }, n > 0 ? Math.max(0, now.heapUsed - baseline.heapUsed) / n : 0);
      },
    });
    const admission = gauges.admission;
    if (admission) {
      // Counted by admission control itself (one owner); read here at scrape time.
      new Counter({
        name: 'signaling_admissions_total',
        help: 'Upgrades past the cheap checks, by admission control result (admitted, refused: 503 server_busy)',
        labelNames: ['result'] as const,
        registers: [this.registry],
        collect() {
          const { admitted, refused } = admission();
          this.reset();
          this.inc({ result: 'admitted' }, admitted);
          this.inc({ result: 'refused' }, refused);
        },
      });
    }
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

function flush(pending: Map<string, number>, counter: Counter<'type'>): void {
  for (const [type, n] of pending) counter.inc({ type }, n);
  pending.clear();
}
