/**
 * The one relay interface the rest of the platform sees. Whatever implements it owns sockets and timers
 * and frees them all in `close()`.
 */
import type { RelayCounters } from './relay-metrics.js';

export interface RelayAddress {
  /** Address the relay's listening UDP socket is bound to. */
  host: string;
  /** UDP port of the STUN/TURN listener (resolved when 0 was asked for). */
  port: number;
}

export interface RelayStats {
  allocations: number;
  /** Relay sockets open: one per allocation, plus reserved ports (EVEN-PORT with R). */
  relaySockets: number;
  /** TURN-over-TCP client connections open. */
  tcpConnections: number;
  counters: RelayCounters;
}

export interface Relay {
  readonly address: RelayAddress;
  stats(): RelayStats;
  /** Idempotent; resolves when every socket and timer the relay opened is closed. */
  close(): Promise<void>;
}
