/** Prometheus metrics of one signaling instance, in a registry of its own (tests run several at once). */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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
    gauges: { connections: () => number; rooms: () => number },
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
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }
}
