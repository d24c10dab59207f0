/**
 * The messages between the primary of a multi-worker relay (relay-workers.ts) and its worker threads
 * (relay-worker.ts). They never leave the process: both ends are our own code, so they are typed rather
 * than validated (relay-control commands from outside were validated before they reach the primary).
 */
import type { RelayControlMessage } from './relay-control.js';
import type { RelayAddress, RelayStats } from './relay.js';
import type { TurnServerOptions } from './options.js';

/**
 * How workers share the listening port. 'reuse-port': every worker binds it with SO_REUSEPORT and the
 * kernel hands each client's datagrams to one of them by a hash of the 4-tuple. 'handoff': the primary
 * owns the listening sockets, hands each datagram to the worker its 5-tuple hashes to, and sends what
 * workers answer (Node before 22.12 has no reusePort).
 */
export type WorkerMode = 'reuse-port' | 'handoff';

/** Serializable options of one worker's relay: no functions, no logger. */
export type WorkerRelayOptions = Omit<TurnServerOptions, 'logger' | 'now' | 'worker'>;

export interface WorkerData {
  index: number;
  mode: WorkerMode;
  options: WorkerRelayOptions;
  /** pino level for the worker's own logger; undefined for none. */
  logLevel: string | undefined;
  /** Handoff: the primary's listening sockets, in the order the relay binds its addresses. */
  listeners: Array<{ address: string; port: number }>;
}

/**
 * Datagrams in one message, four slots each: listener index, bytes, address, port. Batched per event-loop
 * turn, so a burst of packets costs one postMessage instead of one each.
 */
export type Datagrams = Array<number | Uint8Array | string>;

export type ToWorker =
  | { t: 'control'; m: RelayControlMessage }
  | { t: 'admitted'; id: number; code: number | null }
  | { t: 'dgrams'; d: Datagrams }
  | { t: 'stats' }
  | { t: 'close' };

export type FromWorker =
  | { t: 'ready'; address: RelayAddress }
  | { t: 'failed'; error: { message: string; code?: string; address?: string; port?: number } }
  | { t: 'admit'; id: number; user: string }
  | { t: 'release'; user: string }
  | { t: 'room'; room: string; addresses: string[] }
  | { t: 'stats'; stats: RelayStats }
  | { t: 'dgrams'; d: Datagrams }
  | { t: 'closed' };
