/**
 * The signaling server: one HTTP server carrying the routes and the WebSocket endpoint. Auth happens in
 * the `upgrade` handler, before `handleUpgrade`, so a refused client never gets a WebSocket.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { decideUpgrade, selectSubprotocol } from './auth/upgrade-auth.js';
import { TokenVerifier } from './auth/token-verifier.js';
import type { SignalingConfig } from './config.js';
import { ClientConnection } from './connection/client-connection.js';
import { Heartbeat } from './connection/heartbeat.js';
import { handleHttp } from './http-routes.js';
import { SignalingMetrics } from './metrics.js';
import { PROTOCOL_VERSION } from './protocol/index.js';
import { Dispatcher } from './relay/dispatcher.js';
import { buildIceServers, hostFromHeader, regionFromQuery, type RelayHint } from './relay/ice-servers.js';
import { registryFromConfig } from './relay/registry-from-config.js';
import type { BundledRelayPorts, RelayRegistry } from '../turn/fleet/registry.js';
import { MemoryBus } from './rooms/memory-bus.js';
import type { RoomBus } from './rooms/room-bus.js';
import { MetricsListener } from './metrics-listener.js';
import { TelemetryIntake } from './client-telemetry.js';
import { timeSignals, withArrival } from './signal-timing.js';

export const WS_PATH = `/${PROTOCOL_VERSION}/ws`;

export interface SignalingServerDeps {
  /** JSON logger whose base fields carry `nodeId` (main.ts makes one); default: pino at LOG_LEVEL. */
  logger?: Logger;
  bus?: RoomBus;
  /** Where the bundled relay beside this server listens (`relay.address` fits); null for none. */
  embeddedRelay?: BundledRelayPorts | null;
  /**
   * The relays to hand out; the caller starts and closes it. Default: one built from `config.turn` and
   * `embeddedRelay`, started here and closed by close().
   */
  relays?: RelayRegistry;
  /** Collect Node process metrics (off in tests that start many servers). */
  processMetrics?: boolean;
}

/** Signals kept for a dropped peer while it may resume. */
export const MAILBOX_SIZE = 256;

export class SignalingServer {
  readonly metrics: SignalingMetrics;
  readonly log: Logger;
  private readonly http: Server;
  /** /metrics on METRICS_PORT; null when /metrics is served on the public port. */
  private readonly metricsListener: MetricsListener | null;
  private readonly wss: WebSocketServer;
  private readonly bus: RoomBus;
  private readonly dispatcher: Dispatcher;
  private readonly heartbeat: Heartbeat;
  private readonly verifier: TokenVerifier;
  readonly relays: RelayRegistry;
  private readonly ownsRelays: boolean;
  private readonly connections = new Set<ClientConnection>();
  private readonly perIp = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  /** Disconnect handling still in flight (suspending seats on the bus); close() waits for it. */
  private readonly disconnecting = new Set<Promise<void>>();
  private draining = false;
  private metricsAddr: AddressInfo | null = null;
  private closed: Promise<void> | null = null;

  constructor(
    readonly config: SignalingConfig,
    deps: SignalingServerDeps = {},
  ) {
    // A logger handed in (main.ts) already carries nodeId in its base fields; adding it again would
    // print the key twice on every line.
    this.log = deps.logger ?? pino({ level: config.logLevel, base: { nodeId: config.nodeId } });
    this.ownsRelays = deps.relays === undefined;
    this.relays =
      deps.relays ?? registryFromConfig(config.turn, { bundled: deps.embeddedRelay ?? null, log: this.log });
    if (this.ownsRelays) this.relays.start();
    this.metrics = new SignalingMetrics(
      {
        connections: () => this.connections.size,
        rooms: () => this.bus.roomCount(),
        relays: () => this.relays.list(),
      },
      { processMetrics: deps.processMetrics ?? false },
    );
    this.bus = timeSignals(
      deps.bus ??
        new MemoryBus({
          nodeId: config.nodeId,
          resumeWindowMs: config.resumeWindowMs,
          mailboxSize: MAILBOX_SIZE,
        }),
      this.metrics.signalRelay,
    );
    this.metricsListener =
      config.metrics.port === null ? null : new MetricsListener(this.metrics.registry, () => this.ready());
    const verifier = (this.verifier = new TokenVerifier(config.jwt));
    const iceOptions = {
      secrets: config.turn.secrets,
      credentialTtlSec: config.turn.credentialTtlSec,
      externalIp: config.turn.externalIp,
    };
    const iceServers = (userId: string, hint: RelayHint) =>
      buildIceServers(iceOptions, this.relays.select(hint.region), userId, hint.host);
    this.dispatcher = new Dispatcher({
      bus: this.bus,
      roomSize: config.limits.roomSize,
      resumeWindowMs: config.resumeWindowMs,
      limits: {
        maxMessageBytes: config.limits.maxMessageBytes,
        roomSize: config.limits.roomSize,
        ratePerSecond: config.limits.ratePerSecond,
        resumeWindowMs: config.resumeWindowMs,
      },
      iceServers,
      metrics: this.metrics,
      log: this.log,
    });

    const telemetry = config.clientTelemetry
      ? new TelemetryIntake({
          metrics: this.metrics,
          verifier,
          trustProxy: config.trustProxy,
          regions: () =>
            new Set(
              [config.turn.embeddedRegion, ...this.relays.list().map((r) => r.region)].filter(
                (r): r is string => r !== undefined,
              ),
            ),
        })
      : null;

    // ws enforces a hard cap well above ours, so a frame between the two gets a `payload_too_large`
    // error and the connection lives on; only an absurd frame closes it (1009).
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.limits.maxMessageBytes * 4,
      perMessageDeflate: false,
      handleProtocols: selectSubprotocol,
    });
    this.http = createServer((req, res) => {
      handleHttp(req, res, {
        ready: () => this.ready(),
        metrics: this.metrics,
        metricsOnThisPort: this.metricsListener === null,
        ...(telemetry ? { telemetry } : {}),
        verifier,
        iceServers,
        credentialTtlSec: config.turn.credentialTtlSec,
        ...(config.devTokens
          ? { devToken: { secret: config.jwt.key, audience: config.jwt.audience, issuer: config.jwt.issuer } }
          : {}),
      }).catch((err: unknown) => {
        this.log.warn({ err }, 'http route failed');
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"code":"bad_request"}');
      });
    });
    this.http.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    this.heartbeat = new Heartbeat(() => this.connections, config.heartbeatIntervalMs);
  }

  ready(): boolean {
    return !this.draining && this.closed === null && this.bus.ready();
  }

  /** Listen on the public port, then (with METRICS_PORT) on the metrics port. */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    if (this.metricsListener) {
      const { port: metricsPort, host: metricsHost } = this.config.metrics;
      this.metricsAddr = await this.metricsListener.listen(metricsPort ?? 0, metricsHost);
    }
    return this.address();
  }

  /** Where /metrics is served when it has its own listener; null when it is on the public port. */
  metricsAddress(): AddressInfo | null {
    return this.metricsAddr;
  }

  address(): AddressInfo {
    return this.http.address() as AddressInfo;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const startedAt = performance.now();
    socket.on('error', () => socket.destroy());
    const decision = decideUpgrade(req, {
      path: WS_PATH,
      verifier: this.verifier,
      origins: { allowed: this.config.allowedOrigins, allowLocalhost: !this.config.production },
      trustProxy: this.config.trustProxy,
      draining: () => this.draining || this.closed !== null,
      connectionCount: () => this.connections.size,
      connectionsFrom: (ip) => this.perIp.get(ip) ?? 0,
      maxConnections: this.config.limits.maxConnections,
      maxConnectionsPerIp: this.config.limits.maxConnectionsPerIp,
    });
    if (!decision.ok) {
      this.metrics.authFailures.inc({ status: String(decision.status), reason: decision.code });
      this.log.info(
        { status: decision.status, code: decision.code, reason: decision.reason },
        'upgrade refused',
      );
      const body = JSON.stringify({ code: decision.code, message: decision.reason });
      socket.end(
        `HTTP/1.1 ${decision.status} ${STATUS_TEXT[decision.status]}\r\nConnection: close\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    // Count the seat before the handshake completes so a burst cannot exceed the per-IP cap; a handshake
    // that fails gives the seat back when its socket closes.
    this.perIp.set(decision.ip, (this.perIp.get(decision.ip) ?? 0) + 1);
    let accepted = false;
    socket.once('close', () => {
      if (!accepted) this.releaseIp(decision.ip);
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      accepted = true;
      this.metrics.accept.observe((performance.now() - startedAt) / 1000);
      this.accept(ws, req, decision.grant, decision.ip);
    });
  }

  private releaseIp(ip: string): void {
    const left = (this.perIp.get(ip) ?? 1) - 1;
    if (left > 0) this.perIp.set(ip, left);
    else this.perIp.delete(ip);
  }

  private accept(ws: WebSocket, req: IncomingMessage, grant: ClientConnection['grant'], ip: string): void {
    const conn = new ClientConnection(
      ws,
      grant,
      ip,
      {
        host: hostFromHeader(req.headers.host),
        region: regionFromQuery(new URL(req.url ?? '/', 'http://placeholder')),
      },
      this.config.limits,
      this.metrics,
      this.log,
      (c, message) => withArrival(performance.now(), () => this.dispatcher.dispatch(c, message)),
    );
    this.connections.add(conn);
    ws.on('error', (err) => conn.log.debug({ err }, 'socket error'));
    ws.once('close', (code) => {
      this.connections.delete(conn);
      this.releaseIp(ip);
      // 1000/1001 from the client is a deliberate goodbye; anything else may come back and resume.
      if (code === 1000 || code === 1001) conn.leftCleanly = true;
      const done = this.dispatcher
        .disconnected(conn)
        .catch((err: unknown) => this.log.error({ err }, 'disconnect handling failed'))
        .finally(() => this.disconnecting.delete(done));
      this.disconnecting.add(done);
    });
    if (this.draining) conn.closeForRestart();
  }

  /**
   * Stop accepting, tell every client to reconnect (elsewhere), and wait until they have gone or the
   * deadline passes; then close what is left.
   */
  async drain(timeoutMs = this.config.drainTimeoutMs): Promise<void> {
    if (!this.draining) {
      this.draining = true;
      this.log.info({ connections: this.connections.size, timeoutMs }, 'draining');
      for (const conn of this.connections) conn.send({ type: 'reconnect', reason: 'draining', afterMs: 0 });
      // Give clients a moment to act on the notice themselves, then close with 1012 (service restart).
      const grace = Math.min(timeoutMs, 250);
      await waitUntil(() => this.connections.size === 0, grace);
      for (const conn of this.connections) conn.closeForRestart();
      await waitUntil(() => this.connections.size === 0, Math.max(0, timeoutMs - grace));
    }
    await this.close();
  }

  /** Idempotent: close every socket, timer and the bus. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.heartbeat.close();
      this.dispatcher.close();
      if (this.ownsRelays) this.relays.close();
      for (const conn of this.connections) conn.terminate();
      this.wss.close();
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        for (const socket of this.sockets) socket.destroy();
      });
      await Promise.all([...this.disconnecting]);
      await Promise.all([this.bus.close(), this.metricsListener?.close()]);
    })();
    return this.closed;
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
