/**
 * TURN over TCP (RFC 8656 §3.1): one listener on the relay's port number; each connection is one client,
 * its frames handed to the server and its answers and relayed data written back on the same stream. The
 * allocation made on a connection lives and dies with it; a connection that makes none is closed when
 * idle; a stream that is not TURN is closed at once.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ClientLink, LocalEndpoint } from './allocation.js';
import type { RelayCounters } from './relay-metrics.js';
import { FrameReader } from './tcp-framing.js';

export interface TcpListenerOptions {
  /** The address and port to listen on, and the listener's identity in the links it makes. */
  local: LocalEndpoint;
  maxConnections: number;
  idleMs: number;
  sendBufferBytes: number;
  counters: RelayCounters;
  logger?: Logger | undefined;
  /** A frame from a client. */
  onFrame(frame: Buffer, link: ClientLink): void;
  /** Whether the client on this link holds an allocation (then it is never idle-closed). */
  allocated(link: ClientLink): boolean;
  /** The connection is gone: its allocation goes too. */
  onClose(link: ClientLink): void;
}

export class TcpListener {
  private readonly connections = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly o: TcpListenerOptions,
  ) {}

  /** Listen; null when the port is taken. */
  static start(o: TcpListenerOptions): Promise<TcpListener | null> {
    return new Promise((resolve) => {
      const server = createServer();
      const listener = new TcpListener(server, o);
      server.on('connection', (socket) => listener.accept(socket));
      server.once('error', () => resolve(null));
      server.listen({ host: o.local.address, port: o.local.port, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => o.logger?.warn({ err }, 'relay TCP listener error'));
        resolve(listener);
      });
    });
  }

  get size(): number {
    return this.connections.size;
  }

  private accept(socket: Socket): void {
    const o = this.o;
    if (this.closed || this.connections.size >= o.maxConnections) {
      socket.destroy();
      return;
    }
    this.connections.add(socket);
    socket.setNoDelay(true);
    const address = socket.remoteAddress ?? '';
    const port = socket.remotePort ?? 0;
    const link: ClientLink = {
      address,
      port,
      key: `tcp|${o.local.address}|${address}|${port}`,
      local: o.local,
      stream: true,
      send(buf) {
        // A stream that cannot keep up loses packets, as UDP would, rather than buffering without bound.
        if (socket.destroyed || socket.writableLength > o.sendBufferBytes) o.counters.droppedBandwidth++;
        else socket.write(buf);
      },
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
    socket.on('error', (err) => o.logger?.debug({ err }, 'relay TCP connection error'));
    socket.on('close', () => {
      this.connections.delete(socket);
      o.onClose(link);
    });
  }

  /** Idempotent: drops every connection and stops listening. */
  close(): Promise<void> {
    this.closed = true;
    for (const c of this.connections) c.destroy();
    return new Promise((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
  }
}
