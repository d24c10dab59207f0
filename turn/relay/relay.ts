/**
 * The one relay interface the rest of the platform sees. Whatever implements it owns sockets and timers
 * and frees them all in `close()`.
 */
import type { RelayCounters } from './relay-metrics.js';
import type { RelayControl } from './relay-control.js';

export interface RelayAddress {
  /** UDP port of the STUN/TURN listeners (resolved when 0 was asked for). */
  port: number;
  /** TCP port of TURN over TCP (the UDP port's number), or null when TCP is off. */
  tcpPort: number | null;
  /** TLS port of TURN over TLS, or null when TLS is off. */
  tlsPort: number | null;
  /** Every local address listened on, one socket each. */
  addresses: readonly string[];
}

export interface RelayStats {
  allocations: number;
  /** Allocations by the transport their client uses to reach the relay. */
  allocationsByTransport: Record<'udp' | 'tcp' | 'tls', number>;
  /** Relay sockets open: one per allocation, plus reserved ports (EVEN-PORT with R). */
  relaySockets: number;
  /** TURN-over-TCP and TURN-over-TLS client connections open. */
  tcpConnections: number;
  counters: RelayCounters;
}

/** A relay is also controlled: revokeUser and announceRoomAddresses (relay-control.ts). */
export interface Relay extends RelayControl {
  readonly address: RelayAddress;
  stats(): RelayStats;
  /** Idempotent; resolves when every socket and timer the relay opened is closed. */
  close(): Promise<void>;
}
