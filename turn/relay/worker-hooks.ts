/**
 * What a relay needs from outside itself when it is one worker of several (relay-workers.ts): its
 * listening sockets (its own SO_REUSEPORT socket, or a stand-in for the primary's socket), and the primary
 * that keeps what must stay global across workers: the allocation quotas and the addresses of each room's
 * allocations (room scope). A relay on its own has none of this.
 */
import type { Socket } from 'node:dgram';
import { bindUdp } from './relay-ports.js';

/** A listening UDP socket as the relay uses it: a dgram socket, or the primary's socket seen from a worker. */
export interface ListenerSocket {
  /** The bound port. */
  readonly port: number;
  /** Every datagram from a client; set once. */
  onMessage(handler: (msg: Buffer, address: string, port: number) => void): void;
  /** Socket errors (a send the kernel refused, say): logged, never fatal. */
  onError?(handler: (err: Error) => void): void;
  /** Never throws (a send on a closed socket is dropped). */
  send(buf: Buffer, offset: number, length: number, port: number, address: string): void;
  /** Stop delivering datagrams (the relay is closing); replies may still go out until `close`. */
  stop(): void;
  close(): Promise<void>;
}

export interface WorkerHooks {
  /**
   * Bind the listening socket of one local address; null when the port is taken. Default: a dgram socket
   * of our own (with SO_REUSEPORT when `reusePort`).
   */
  bindListener?(address: string, port: number): Promise<ListenerSocket | null>;
  /** Bind listening sockets with SO_REUSEPORT: every worker binds the same port, the kernel spreads clients. */
  reusePort?: boolean;
  /** Ask the primary for one allocation of `userId`: null when granted, else the error code (486, 508). */
  admit(userId: string): Promise<number | null>;
  /** An allocation granted by `admit` has ended (or was never made). */
  release(userId: string): void;
  /** A room-bound allocation now uses these addresses: the primary tells the other workers' room scope. */
  roomAllocation(room: string, addresses: readonly string[]): void;
}

/**
 * Bind a UDP listening socket on one address (an IPv6 one takes IPv6 only); null when the port is taken.
 * With `reusePort` (Node ≥ 22.12 / 23.1 and Linux) several sockets share the port and the kernel picks one
 * by a hash of the 4-tuple, so one client always reaches the same socket.
 */
export async function bindListenerSocket(
  host: string,
  port: number,
  reusePort = false,
): Promise<ListenerSocket | null> {
  const socket = await bindUdp(host, port, reusePort);
  return socket && dgramListener(socket);
}

/** A bound dgram socket as a ListenerSocket. */
export function dgramListener(socket: Socket): ListenerSocket {
  let closed: Promise<void> | undefined;
  return {
    port: socket.address().port,
    onMessage(handler) {
      socket.on('message', (msg, rinfo) => handler(msg, rinfo.address, rinfo.port));
    },
    onError(handler) {
      socket.on('error', handler);
    },
    send(buf, offset, length, port, address) {
      try {
        socket.send(buf, offset, length, port, address);
      } catch {
        // Closed under us while stopping: dropped.
      }
    },
    stop() {
      socket.removeAllListeners('message');
    },
    close() {
      closed ??= new Promise((res) => {
        try {
          socket.close(() => res());
        } catch {
          res();
        }
      });
      return closed;
    },
  };
}
