/**
 * Liveness probes for relays, as signaling sees them. UDP relays get a STUN Binding request (RFC 8489
 * §3, §6), which every STUN/TURN server answers without authentication: an answer, success or error,
 * proves the relay's STUN stack is reading its socket. TCP relays (turns:, transport=tcp) get a TCP connect
 * only: a TLS handshake would need per-relay certificate settings and would cost the relay a handshake
 * every interval, and the connect already shows the listener is up.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIP, type Socket as TcpSocket } from 'node:net';
import { Method, StunClass, StunWriter, parseStun, randomTransactionId } from '../stun/message.js';
import type { ProbeTarget } from './relay-spec.js';
import { systemClock, type Clock } from '../../common/clock.js';

interface Pending {
  started: number;
  timer: unknown;
  resolve: (rttMs: number | null) => void;
}

export class RelayProber {
  private readonly udp = new Map<'udp4' | 'udp6', UdpSocket>();
  /** Outstanding Binding requests by transaction id (hex). */
  private readonly pending = new Map<string, Pending>();
  private readonly tcp = new Set<() => void>();
  private closed = false;

  constructor(private readonly clock: Clock = systemClock) {}

  /** Round-trip time in ms, or null when the target did not answer within `timeoutMs`. Never rejects. */
  probe(target: ProbeTarget, timeoutMs: number): Promise<number | null> {
    if (this.closed) return Promise.resolve(null);
    return target.transport === 'udp' ? this.binding(target, timeoutMs) : this.connect(target, timeoutMs);
  }

  /** Idempotent: closes every socket; probes still in flight resolve as misses. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const finish of [...this.tcp]) finish();
    for (const [id, p] of this.pending) {
      this.clock.clearTimeout(p.timer);
      this.pending.delete(id);
      p.resolve(null);
    }
    for (const socket of this.udp.values()) socket.close();
    this.udp.clear();
  }

  private binding(target: ProbeTarget, timeoutMs: number): Promise<number | null> {
    const transactionId = randomTransactionId();
    const id = transactionId.toString('hex');
    // FINGERPRINT lets a server that multiplexes STUN with other traffic tell ours apart (RFC 8489 §14.7).
    const request = new StunWriter(Method.binding, StunClass.request, transactionId).build({
      fingerprint: true,
    });
    // Hostnames are looked up by the udp4 socket, so they are probed over IPv4.
    const socket = this.socket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
    return new Promise((resolve) => {
      const finish = (rtt: number | null) => {
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        this.clock.clearTimeout(p.timer);
        resolve(rtt);
      };
      const timer = this.clock.setTimeout(() => finish(null), timeoutMs);
      this.pending.set(id, { started: this.clock.now(), timer, resolve });
      // One request, no retransmission (RFC 8489 §6.2.1 would retransmit): the registry's failure
      // threshold over consecutive probes plays that part, and a lost probe is cheap.
      socket.send(request, target.port, target.host, (err) => {
        if (err) finish(null);
      });
    });
  }

  private socket(type: 'udp4' | 'udp6'): UdpSocket {
    let socket = this.udp.get(type);
    if (!socket) {
      socket = createSocket(type);
      // A send error (no route, lookup failure) reaches the send callback; this only keeps a stray socket
      // error from crashing the process.
      socket.on('error', () => undefined);
      socket.on('message', (buf) => this.answer(buf));
      socket.unref();
      this.udp.set(type, socket);
    }
    return socket;
  }

  /** A response counts when it is a Binding success or error response to a request of ours (§6.3). */
  private answer(buf: Buffer): void {
    const parsed = parseStun(buf);
    if (!parsed.ok) return;
    const { method, cls, transactionId } = parsed.message;
    if (method !== Method.binding || (cls !== StunClass.success && cls !== StunClass.error)) return;
    const id = transactionId.toString('hex');
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.clock.clearTimeout(p.timer);
    p.resolve(Math.max(0, this.clock.now() - p.started));
  }

  private connect(target: ProbeTarget, timeoutMs: number): Promise<number | null> {
    return new Promise((resolve) => {
      const started = this.clock.now();
      const socket: TcpSocket = connect({ host: target.host, port: target.port });
      socket.unref();
      const finish = (rtt: number | null) => {
        if (!this.tcp.delete(miss)) return;
        this.clock.clearTimeout(timer);
        socket.destroy();
        resolve(rtt);
      };
      const miss = () => finish(null);
      this.tcp.add(miss);
      const timer = this.clock.setTimeout(miss, timeoutMs);
      socket.once('connect', () => finish(Math.max(0, this.clock.now() - started)));
      socket.once('error', miss);
    });
  }
}
