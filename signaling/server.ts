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
import { ClientConnection, type ConnectionContext } from './connection/client-connection.js';
import { Heartbeat } from './connection/heartbeat.js';
import { Admission } from './connection/admission.js';
import { drainDelays } from './connection/drain-spread.js';
import { handleHttp } from './http-routes.js';
import { SignalingMetrics } from './metrics.js';
import { ERROR_CODES, PROTOCOL_VERSION, httpStatusOf } from './protocol/index.js';
import { systemClock, type Clock } from '../common/clock.js';
import { Revocations } from './admin/revocations.js';
import { handleAdmin } from './admin/admin-api.js';
import type { Revocation } from './rooms/room-bus.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { buildIceServers, hostFromHeader, regionFromQuery, type IceRequest } from './ice/ice-servers.js';
import { registryFromConfig } from './ice/registry-from-config.js';
import { turnUserId } from './ice/ice-servers.js';
import type { RelayControl } from '../turn/relay/relay-control.js';
import type { BundledRelayPorts, RelayRegistry } from '../turn/fleet/registry.js';
import { MemoryBus } from './rooms/memory-bus.js';
import type { RoomBus } from './rooms/room-bus.js';
import { MetricsListener } from './metrics-listener.js';
import { TelemetryIntake } from './client-telemetry.js';

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
  /** The one clock of this server: token expiry, heartbeat, resume windows, relay probes. */
  clock?: Clock;
  /** Tells the bundled relay of revocations and room addresses; none when no relay runs beside us. */
  relayControl?: RelayControl | null;
}

/** Signals kept for a dropped peer while it may resume. */
export const MAILBOX_SIZE = 256;

export class SignalingServer {
  readonly metrics: SignalingMetrics;
  readonly log: Logger;
  private readonly http: Server;
  /** The admin API's own listener (ADMIN_PORT), or null. */
  private readonly adminHttp: Server | null;
  /** /metrics on METRICS_PORT; null when /metrics is served on the public port. */
  private readonly metricsListener: MetricsListener | null;
  private readonly wss: WebSocketServer;
  private readonly bus: RoomBus;
  private readonly dispatcher: Dispatcher;
  private readonly heartbeat: Heartbeat;
  private readonly verifier: TokenVerifier;
  /** Accept-rate limit of new connections (ADMISSION_*). */
  readonly admission: Admission;
  readonly clock: Clock;
  readonly revocations: Revocations;
  private readonly relayControl: RelayControl | null;
  /** What every connection shares (one object, not one per connection). */
  private readonly connectionContext: ConnectionContext;
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
    const clock = (this.clock = deps.clock ?? systemClock);
    this.relayControl = deps.relayControl ?? null;
    this.ownsRelays = deps.relays === undefined;
    this.relays =
      deps.relays ??
      registryFromConfig(config.turn, { bundled: deps.embeddedRelay ?? null, log: this.log, clock });
    if (this.ownsRelays) this.relays.start();
    this.admission = new Admission({ ...config.admission, clock });
    this.metrics = new SignalingMetrics(
      {
        connections: () => this.connections.size,
        admission: () => this.admission,
        rooms: () => this.bus.roomCount(),
        relays: () => this.relays.list(),
      },
      { processMetrics: deps.processMetrics ?? false },
    );
    this.bus =
      deps.bus ??
      new MemoryBus({
        nodeId: config.nodeId,
        resumeWindowMs: config.resumeWindowMs,
        mailboxSize: MAILBOX_SIZE,
        clock,
      });
    this.revocations = new Revocations(clock);
    this.bus.onRevoked((r) => this.applyRevocation(r));
    this.metricsListener =
      config.metrics.port === null ? null : new MetricsListener(this.metrics.registry, () => this.ready());
    const verifier = (this.verifier = new TokenVerifier({ ...config.jwt, now: () => clock.now() }));
    const iceOptions = {
      secrets: config.turn.secrets,
      credentialTtlSec: config.turn.credentialTtlSec,
      externalIp: config.turn.externalIp,
      now: () => clock.now(),
    };
    const iceServers = (request: IceRequest) =>
      buildIceServers(iceOptions, this.relays.select(request.hint.region), request);
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
      ...(deps.relayControl
        ? {
            announceAddresses: (room: string, addresses: string[]) =>
              this.tellRelay('announce', room, addresses),
          }
        : {}),
      verifyToken: (token) => {
        const verified = verifier.verify(token);
        if (verified.ok && this.revocations.refuses(verified.grant.userId, verified.grant.issuedAt))
          return { ok: false, reason: 'token revoked', detail: 'token revoked' };
        return verified;
      },
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
        revoked: (userId, issuedAt) => this.revocations.refuses(userId, issuedAt),
        iceServers,
        credentialTtlSec: config.turn.credentialTtlSec,
        ...(config.devTokens
          ? { devToken: { secret: config.jwt.key, audience: config.jwt.audience, issuer: config.jwt.issuer } }
          : {}),
      }).catch((err: unknown) => {
        this.log.warn({ err }, 'http route failed');
        if (!res.headersSent)
          res.writeHead(httpStatusOf('bad_request'), { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 'bad_request', message: ERROR_CODES.bad_request.message }));
      });
    });
    this.http.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    this.heartbeat = new Heartbeat(() => this.connections, config.heartbeatIntervalMs, clock);
    this.connectionContext = {
      limits: config.limits,
      clock,
      clockSkewSec: config.jwt.clockSkewSec,
      metrics: this.metrics,
      log: this.log,
      onMessage: (c, message, arrivedAt) => this.dispatcher.dispatch(c, message, arrivedAt),
    };
    const adminContext = {
      bus: this.bus,
      verifier,
      clock,
      credentialTtlSec: config.turn.credentialTtlSec,
      log: this.log,
    };
    this.adminHttp = config.admin
      ? createServer((req, res) => {
          handleAdmin(req, res, adminContext).catch((err: unknown) => {
            this.log.error({ err }, 'admin request failed');
            if (!res.headersSent)
              res.writeHead(httpStatusOf('bad_request'), { 'content-type': 'application/json' });
            res.end(JSON.stringify({ code: 'internal', message: ERROR_CODES.internal.message }));
          });
        })
      : null;
  }

  /** Commands to the bundled relay; one it refuses (a value out of its bounds) is logged, never thrown. */
  private tellRelay(op: 'revoke', userId: string, credentialsExpiringBy: number): void;
  private tellRelay(op: 'announce', room: string, addresses: string[]): void;
  private tellRelay(op: 'revoke' | 'announce', subject: string, arg: number | string[]): void {
    const control = this.relayControl;
    if (!control) return;
    try {
      // The relay knows users by the id in their TURN usernames.
      if (op === 'revoke') control.revokeUser(turnUserId(subject), arg as number);
      else control.announceRoomAddresses(subject, arg as string[]);
    } catch (err) {
      this.log.warn({ err, op }, 'relay control command refused');
    }
  }

  /** Load the revocations made before this instance started (call before serving). */
  async loadRevocations(): Promise<void> {
    for (const r of await this.bus.revocations()) this.revocations.add(r);
  }

  /**
   * A user was revoked (here or on another instance): refuse their older tokens, close their connections
   * here (their seats end with `peer-left` `kicked`), and have the bundled relay drop their allocations
   * and refuse the credentials they were given.
   */
  private applyRevocation(revocation: Revocation): void {
    this.revocations.add(revocation);
    let closed = 0;
    for (const conn of this.connections) {
      if (conn.grant.userId !== revocation.userId) continue;
      const membership = conn.membership;
      conn.membership = null;
      conn.fail('revoked');
      closed++;
      if (membership)
        this.bus
          .leave(membership.room, membership.peerId, 'kicked', membership.sessionId)
          .catch((err: unknown) => this.log.warn({ err }, 'revocation: freeing a seat failed'));
    }
    this.tellRelay('revoke', revocation.userId, revocation.credentialsExpiringBy);
    this.log.warn({ user: revocation.userId, by: revocation.by, closed }, 'user revoked');
  }

  ready(): boolean {
    return !this.draining && this.closed === null && this.bus.ready();
  }

  /** Listen on the public port, then (with METRICS_PORT) on the metrics port. */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    await this.loadRevocations();
    await listenOn(this.http, port, host);
    if (this.metricsListener) {
      const { port: metricsPort, host: metricsHost } = this.config.metrics;
      this.metricsAddr = await this.metricsListener.listen(metricsPort ?? 0, metricsHost);
    }
    if (this.adminHttp && this.config.admin)
      await listenOn(this.adminHttp, this.config.admin.port, this.config.admin.host);
    return this.address();
  }

  /** Where /metrics is served when it has its own listener; null when it is on the public port. */
  metricsAddress(): AddressInfo | null {
    return this.metricsAddr;
  }

  address(): AddressInfo {
    return this.http.address() as AddressInfo;
  }

  /** Where the admin API listens, or null when it is off. */
  adminAddress(): AddressInfo | null {
    return (this.adminHttp?.address() as AddressInfo | null) ?? null;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  private upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const startedAt = performance.now();
    socket.on('error', destroySocket);
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
      revoked: (userId, issuedAt) => this.revocations.refuses(userId, issuedAt),
      admit: () => this.admission.admit(),
    });
    if (!decision.ok) {
      const status = httpStatusOf(decision.code);
      this.metrics.authFailures.inc({ status: String(status), reason: decision.code });
      this.log.info(
        { status, code: decision.code, reason: decision.detail ?? decision.reason },
        'upgrade refused',
      );
      const body = JSON.stringify({ code: decision.code, message: decision.reason });
      const retryAfter = decision.retryAfterSec ? `Retry-After: ${decision.retryAfterSec}\r\n` : '';
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n${retryAfter}` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    // Count the seat before the handshake completes so a burst cannot exceed the per-IP cap; a handshake
    // that fails gives the seat back when its socket closes.
    this.perIp.set(decision.ip, (this.perIp.get(decision.ip) ?? 0) + 1);
    const { ip } = decision;
    const releaseEarly = () => this.releaseIp(ip);
    socket.once('close', releaseEarly);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // From here accept()'s close handler gives the seat back. Removing this listener also lets the
      // request go: it shares this function's closure scope, and would keep `req` (its headers and URL,
      // about 1 KB) alive for as long as the connection lasts.
      socket.off('close', releaseEarly);
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
      this.connectionContext,
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
      // Each client its own afterMs over the spread window, so they reach the other instances under
      // their admission rate; the SDK stays here until its time and then moves (connection/drain-spread.ts).
      const { delays, windowMs } = drainDelays(this.connections.size, {
        spreadMs: this.config.drainSpreadMs,
        ratePerSecond: this.config.admission.ratePerSecond,
        timeoutMs,
      });
      this.log.info({ connections: this.connections.size, timeoutMs, windowMs }, 'draining');
      let i = 0;
      for (const conn of this.connections)
        conn.send({ type: 'reconnect', reason: 'draining', afterMs: delays[i++] ?? 0 });
      // Give clients their window and a moment to act on the notice themselves, then close with 1012
      // (service restart).
      const grace = Math.min(timeoutMs, windowMs + 250);
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
      if (this.ownsRelays) this.relays.close();
      for (const conn of this.connections) conn.terminate();
      this.wss.close();
      await new Promise<void>((resolve) => {
        this.http.close(() => resolve());
        for (const socket of this.sockets) socket.destroy();
      });
      if (this.adminHttp?.listening) {
        this.adminHttp.closeAllConnections();
        await new Promise<void>((resolve) => this.adminHttp!.close(() => resolve()));
      }
      await Promise.all([...this.disconnecting]);
      await Promise.all([this.bus.close(), this.metricsListener?.close()]);
    })();
    return this.closed;
  }
}

/** A socket 'error' listener shared by every socket (a closure per upgrade would keep its scope alive). */
function destroySocket(this: Socket): void {
  this.destroy();
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
