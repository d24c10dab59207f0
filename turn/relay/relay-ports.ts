/**
 * Relay ports: binding a free UDP port in the operator's range, EVEN-PORT, and the next-higher port kept
 * under a RESERVATION-TOKEN (RFC 8656 §7.2, §14.6, §14.9). Reservations belong to a user so they count
 * against its quota, and every socket made here is closed by `close()`, including one whose bind was still
 * in flight.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

/**
 * Bind a UDP socket to one address (IPv4 or IPv6; an IPv6 one takes IPv6 only); null when the port is
 * taken. Lookups are synchronous: we only send to IP literals. `reusePort` (Node ≥ 22.12 / 23.1, Linux):
 * several sockets share the port and the kernel picks one by a hash of the 4-tuple.
 */
export function bindUdp(host: string, port: number, reusePort = false): Promise<Socket | null> {
  return new Promise((resolve) => {
    const v6 = isIPv6(host);
    const socket = createSocket({
      type: v6 ? 'udp6' : 'udp4',
      ipv6Only: v6,
      ...(reusePort ? { reusePort: true } : {}),
      lookup: (address, _opts, cb) => cb(null, address, v6 ? 6 : 4),
    });
    const onError = () => {
      socket.close();
      resolve(null);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

export interface RelayPortsOptions {
  minPort: number;
  maxPort: number;
  /** How long a reserved port waits for its Allocate, ms (RFC 8656 §14.9 suggests about 30 s). */
  reservationMs: number;
  /** Ports tried before an Allocate gets 508. */
  bindAttempts: number;
  now: () => number;
}

interface Reservation {
  socket: Socket;
  userId: string;
  expiresAt: number;
}

export class RelayPorts {
  private readonly reservations = new Map<string, Reservation>();
  private readonly reservedPerUser = new Map<string, number>();
  private closed = false;

  constructor(private readonly o: RelayPortsOptions) {}

  get reserved(): number {
    return this.reservations.size;
  }

  reservedBy(userId: string): number {
    return this.reservedPerUser.get(userId) ?? 0;
  }

  /**
   * A free port on the local address `host`: random start, then linear. With `even`, an even one; with
   * `reserve`, the next port is bound too and kept for `userId` under the returned token. Null when none
   * could be bound or the relay is closing.
   */
  async take(
    host: string,
    even: boolean,
    reserve: boolean,
    userId: string,
  ): Promise<{ socket: Socket; token?: Buffer } | null> {
    const { minPort, maxPort } = this.o;
    const span = maxPort - minPort + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < Math.min(span, this.o.bindAttempts) && !this.closed; i++) {
      let port = minPort + ((start + i) % span);
      if (even && port % 2 === 1) port++;
      if (port > maxPort || (reserve && port + 1 > maxPort)) continue;
      const socket = await this.bind(host, port);
      if (!socket) continue;
      if (!reserve) return { socket };
      const next = await this.bind(host, port + 1);
      if (!next) {
        socket.close();
        continue;
      }
      const token = randomBytes(8);
      this.reservations.set(token.toString('hex'), {
        socket: next,
        userId,
        expiresAt: this.o.now() + this.o.reservationMs,
      });
      this.reservedPerUser.set(userId, this.reservedBy(userId) + 1);
      return { socket, token };
    }
    return null;
  }

  /** The socket reserved under `token`, now owned by the caller; null when unknown or expired. */
  claim(token: Buffer): Socket | null {
    const key = token.toString('hex');
    const r = this.reservations.get(key);
    if (!r) return null;
    this.drop(key, r);
    if (r.expiresAt <= this.o.now()) {
      r.socket.close();
      return null;
    }
    return r.socket;
  }

  sweep(now: number): void {
    for (const [key, r] of this.reservations)
      if (r.expiresAt <= now) {
        this.drop(key, r);
        r.socket.close();
      }
  }

  /** Close every port reserved by `userId` (a revoked user keeps nothing); returns how many. */
  releaseUser(userId: string): number {
    let n = 0;
    for (const [key, r] of this.reservations)
      if (r.userId === userId) {
        this.drop(key, r);
        r.socket.close();
        n++;
      }
    return n;
  }

  /** Idempotent; closes reserved sockets now and any socket whose bind completes later. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.reservations.values()].map(
      (r) => new Promise<void>((res) => r.socket.close(() => res())),
    );
    this.reservations.clear();
    this.reservedPerUser.clear();
    await Promise.all(all);
  }

  private async bind(host: string, port: number): Promise<Socket | null> {
    const socket = await bindUdp(host, port);
    if (socket && this.closed) {
      socket.close();
      return null;
    }
    return socket;
  }

  private drop(key: string, r: Reservation): void {
    this.reservations.delete(key);
    const left = this.reservedBy(r.userId) - 1;
    if (left > 0) this.reservedPerUser.set(r.userId, left);
    else this.reservedPerUser.delete(r.userId);
  }
}
