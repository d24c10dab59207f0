/**
 * TURN over a stream (RFC 8656 §3.1): TCP on the relay's port number, or TLS on a port of its own. Each
 * connection is one client, its frames handed to the server and its answers and relayed data written back
 * on the same stream. TCP and TLS share everything after the handshake: the framing (tcp-framing.ts), the
 * link, the idle close, the connection cap and the send-buffer bound. The allocation made on a connection
 * lives and dies with it; a connection that makes none is closed when idle; a stream that is not TURN
 * (or, on the TLS port, not TLS) is closed at once.
 */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { ClientLink, LocalEndpoint } from './allocation.js';
import { ConnectionBudget } from './connection-budget.js';
import type { RelayCounters } from './relay-metrics.js';
import { FrameReader } from './tcp-framing.js';
import type { TlsCertificates } from './tls-certificates.js';

export type StreamTransport = 'tcp' | 'tls';

export interface StreamListenerTls {
  /** The certificate source; the listener applies its changes to new connections. The caller closes it. */
  certificates: TlsCertificates;
  /**
   * A connection whose TLS handshake has not finished after this long is closed, ms. Default 10 000:
   * several round trips on a slow mobile link fit; a client that connects and says nothing does not hold
   * a socket for Node's default of two minutes.
   */
  handshakeTimeoutMs?: number;
}

export const STREAM_LISTENER_DEFAULTS = { handshakeTimeoutMs: 10_000 } as const;

export interface StreamListenerOptions {
  /**
   * The address and port to listen on and the listener's identity in the links it makes; its transport
   * ('tcp' or 'tls') must match whether `tls` is given.
   */
  local: LocalEndpoint;
  /** Connections open at once when no shared `connections` budget is given; more are refused. */
  maxConnections: number;
  /**
   * A budget shared with other listeners (TCP and TLS together), with its per-source cap; default: one of
   * `maxConnections` with no per-source cap.
   */
  connections?: ConnectionBudget | undefined;
  /** A connection whose client holds no allocation is closed after this idle time, ms. */
  idleMs: number;
  /** Bytes waiting to be written to one client before relayed packets are dropped. */
  sendBufferBytes: number;
  /** TURN over TLS on this port (TLS 1.2 and 1.3); default: plain TCP. */
  tls?: StreamListenerTls | undefined;
  counters: RelayCounters;
  logger?: Logger | undefined;
  /** A frame from a client. */
  onFrame(frame: Buffer, link: ClientLink): void;
  /** Whether the client on this link holds an allocation (then it is never idle-closed). */
  allocated(link: ClientLink): boolean;
  /** The connection is gone: its allocation goes too. */
  onClose(link: ClientLink): void;
}

export class StreamListener {
  /** Every accepted connection (the raw TCP socket under TLS), handshaking ones included. */
  private readonly connections = new Set<Socket>();
  /** Connections serving TURN: the same sockets for TCP, the TLS sockets over them for TLS. */
  private readonly serving = new Set<Socket>();
  private readonly budget: ConnectionBudget;
  private readonly transport: StreamTransport;
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  private failedHandshakes = 0;

  private constructor(
    private readonly server: Server,
    private readonly o: StreamListenerOptions,
  ) {
    this.budget = o.connections ?? new ConnectionBudget(o.maxConnections);
    this.transport = o.tls ? 'tls' : 'tcp';
    if (o.local.transport !== this.transport)
      throw new RangeError(`a ${o.local.transport} endpoint for a ${this.transport} listener`);
  }

  /** Listen; null when the port is taken. */
  static start(o: StreamListenerOptions): Promise<StreamListener | null> {
    return new Promise((resolve) => {
      const tls = o.tls;
      const server: Server = tls
        ? createTlsServer({
            ...tls.certificates.current,
            // RFC 8656 §3.1 asks for TLS 1.2 at least; 1.3 is negotiated when the client offers it.
            minVersion: 'TLSv1.2',
            handshakeTimeout: tls.handshakeTimeoutMs ?? STREAM_LISTENER_DEFAULTS.handshakeTimeoutMs,
          })
        : createTcpServer();
      const listener = new StreamListener(server, o);
      // Counted at accept, for TLS before the handshake: the tls server wraps the socket in its own
      // 'connection' listener, which runs first, so destroying the raw socket here ends both.
      server.on('connection', (socket: Socket) => listener.admit(socket));
      if (tls) {
        server.on('secureConnection', (socket: Socket) => listener.serve(socket));
        // Node reports a failed or timed-out handshake here but leaves the socket open; close it.
        server.on('tlsClientError', (err: Error, socket: Socket) => {
          listener.failedHandshakes++;
          o.logger?.debug({ err }, 'relay TLS handshake failed');
          socket.destroy();
        });
        listener.unsubscribe = tls.certificates.onChange((context) =>
          (server as ReturnType<typeof createTlsServer>).setSecureContext(context),
        );
      } else server.on('connection', (socket: Socket) => listener.serve(socket));
      server.once('error', () => {
        listener.unsubscribe?.();
        resolve(null);
      });
      server.listen({ host: o.local.address, port: o.local.port, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => o.logger?.warn({ err }, `relay ${listener.transport} listener error`));
        resolve(listener);
      });
    });
  }

  /** TLS handshakes that failed or timed out (a client that speaks no TLS, a scanner, a stalled one). */
  get handshakeFailures(): number {
    return this.failedHandshakes;
  }

  /** Connections open on this listener, TLS handshakes in progress included. */
  get size(): number {
    return this.connections.size;
  }

  /** The port listened on (resolved when 0 was asked for). */
  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** Count a new connection against the budget, or close it at once, unanswered, when it is spent. */
  private admit(socket: Socket): void {
    const address = socket.remoteAddress;
    if (this.closed || address === undefined) {
      socket.destroy();
      return;
    }
    const taken = this.budget.take(address);
    if (taken !== true) {
      if (taken === 'total') this.o.counters.streamsRefusedTotal++;
      else this.o.counters.streamsRefusedPerAddress++;
      this.o.logger?.debug({ address, refusedBy: taken }, 'relay stream connection refused');
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.on('error', (err) => this.o.logger?.debug({ err }, 'relay stream connection error'));
    socket.once('close', () => {
      this.connections.delete(socket);
      this.budget.release(address);
    });
  }

  /** A connection ready for TURN: a TCP one at once, a TLS one after its handshake. */
  private serve(socket: Socket): void {
    const o = this.o;
    if (socket.destroyed) return;
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '';
    const port = socket.remotePort ?? 0;
    const link: ClientLink = {
      address,
      port,
      key: `${this.transport}|${o.local.address}|${address}|${port}`,
      local: o.local,
      stream: true,
      send(buf) {
        // A stream that cannot keep up loses packets, as UDP would, rather than buffering without bound.
        if (socket.destroyed || socket.writableLength > o.sendBufferBytes) o.counters.droppedBandwidth++;
        else socket.write(buf);
      },
      close: () => socket.destroy(),
    };
    const reader = new FrameReader();
    socket.setTimeout(o.idleMs, () => {
      if (!o.allocated(link)) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      const frames = reader.push(chunk);
      if (!frames) {
        o.counters.malformed++;
        socket.destroy();
        return;
      }
      for (const frame of frames) o.onFrame(frame, link);
    });
    // A TCP socket got its error handler in admit(); a TLS one is a new socket over it.
    if (!this.connections.has(socket))
      socket.on('error', (err) => o.logger?.debug({ err }, 'relay TLS connection error'));
    this.serving.add(socket);
    socket.once('close', () => {
      this.serving.delete(socket);
      o.onClose(link);
    });
  }

  /** Idempotent: drops every connection and stops listening. Does not close the certificate source. */
  close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const c of this.serving) c.destroy();
    for (const c of this.connections) c.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
