/**
 * Plain HTTP routes beside the WebSocket: health, readiness, metrics, TURN credentials (TURN REST API
 * form), the development token route, and the demo's static files.
 */
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { grantsRoom, mintDevToken, type TokenVerifier } from './auth/token-verifier.js';
import { ERROR_CODES, httpStatusOf, roomNameSchema, type HttpErrorCode } from './protocol/index.js';
import type { IceRequest, IceServerGrant } from './ice/ice-servers.js';
import { hostFromHeader, regionFromQuery } from './ice/ice-servers.js';
import type { SignalingMetrics } from './metrics.js';
import type { TelemetryIntake } from './client-telemetry.js';

export interface RouteContext {
  ready: () => boolean;
  metrics: SignalingMetrics;
  /** False when /metrics has its own metrics listener (METRICS_PORT): then this port does not serve it. */
  metricsOnThisPort: boolean;
  /** POST /v1/telemetry; absent when CLIENT_TELEMETRY=false. */
  telemetry?: TelemetryIntake;
  verifier: TokenVerifier;
  /** Whether a token of this user issued then is refused (a revocation). */
  revoked: (userId: string, issuedAt: number | undefined) => boolean;
  iceServers: (request: IceRequest) => IceServerGrant;
  credentialTtlSec: number;
  /** Present only in the development default. */
  devToken?: { secret: string; audience: string; issuer: string };
}

const DEMO_ROOT = fileURLToPath(new URL('../demo/public/', import.meta.url));
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** An HTTP refusal with a code of the protocol's error list and its status. */
export function refuse(
  res: ServerResponse,
  code: HttpErrorCode,
  message: string = ERROR_CODES[code].message,
  headers: Record<string, string> = {},
): void {
  json(res, httpStatusOf(code), { code, message }, headers);
}

export async function handleHttp(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RouteContext,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const route = `${req.method ?? 'GET'} ${url.pathname}`;
  switch (route) {
    case 'GET /healthz':
      return json(res, 200, { ok: true });
    case 'GET /readyz':
      return ctx.ready() ? json(res, 200, { ready: true }) : json(res, 503, { ready: false });
    case 'GET /metrics':
      if (!ctx.metricsOnThisPort) return json(res, 404, { code: 'not_found' });
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(await ctx.metrics.registry.metrics());
      return;
    case 'POST /v1/telemetry':
      if (!ctx.telemetry) return json(res, 404, { code: 'not_found' });
      return ctx.telemetry.handle(req, res);
    case 'POST /v1/turn-credentials':
      return turnCredentials(req, url, res, ctx);
    case 'GET /dev/token':
      if (!ctx.devToken) return refuse(res, 'not_found');
      return devToken(url, res, ctx.devToken);
    default:
      if (req.method === 'GET' || req.method === 'HEAD') return serveStatic(url.pathname, res);
      return refuse(res, 'not_found');
  }
}

/**
 * POST /v1/turn-credentials with `Authorization: Bearer <jwt>`. The body follows the TURN REST API
 * (draft-uberti-behave-turn-rest-00 §2.2: username, password, ttl, uris) and adds `iceServers`, ready to
 * hand to RTCPeerConnection. `?region=<label>` orders relays of that region first. The credentials are
 * bound to one room (`?room=`, or the token's only room), never longer-lived than the token.
 */
function turnCredentials(req: IncomingMessage, url: URL, res: ServerResponse, ctx: RouteContext): void {
  const auth = req.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  if (!token) {
    ctx.metrics.authFailures.inc({ status: '401', reason: 'missing token' });
    return refuse(res, 'unauthorized', 'Bearer token required', { 'www-authenticate': 'Bearer' });
  }
  const verified = ctx.verifier.verify(token);
  const refused = verified.ok
    ? ctx.revoked(verified.grant.userId, verified.grant.issuedAt)
      ? 'token revoked'
      : null
    : verified.reason;
  if (!verified.ok || refused !== null) {
    ctx.metrics.authFailures.inc({ status: '401', reason: 'invalid token' });
    return refuse(res, 'unauthorized', refused ?? 'invalid token', {
      'www-authenticate': 'Bearer error="invalid_token"',
    });
  }
  // Credentials are bound to one room (a room-scoped relay lets them reach only its peers): the one asked
  // for with ?room=, or the token's only room.
  const granted = verified.grant.rooms;
  const only = granted !== '*' && granted.size === 1 ? [...granted][0] : undefined;
  const room = url.searchParams.get('room') ?? only;
  if (room === undefined || !roomNameSchema.safeParse(room).success)
    return refuse(res, 'bad_request', 'name the room the credentials are for: ?room=<room>');
  if (!grantsRoom(verified.grant, room)) return refuse(res, 'forbidden', 'token does not grant this room');
  const grant = ctx.iceServers({
    room,
    userId: verified.grant.userId,
    hint: { host: hostFromHeader(req.headers.host), region: regionFromQuery(url) },
    notAfter: verified.grant.expiresAt,
  });
  const turn = grant.iceServers.find((s) => s.username !== undefined);
  json(res, 200, {
    username: turn?.username,
    password: turn?.credential,
    ttl: ctx.credentialTtlSec,
    uris: grant.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls])),
    iceServers: grant.iceServers,
    expiresAt: grant.expiresAt,
  });
}

function devToken(url: URL, res: ServerResponse, dev: NonNullable<RouteContext['devToken']>): void {
  const room = url.searchParams.get('room') ?? 'demo';
  const user = url.searchParams.get('user') ?? `guest-${Math.random().toString(36).slice(2, 8)}`;
  if (!roomNameSchema.safeParse(room).success || !/^[\w.@-]{1,64}$/.test(user)) {
    return refuse(res, 'bad_request', 'room or user is not acceptable');
  }
  const token = mintDevToken({
    secret: dev.secret,
    userId: user,
    rooms: [room],
    audience: dev.audience,
    issuer: dev.issuer,
    ttlSec: 3600,
  });
  json(res, 200, { token, room, userId: user, warning: 'development token route: disabled in production' });
}

async function serveStatic(pathname: string, res: ServerResponse): Promise<void> {
  const relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
  const file = normalize(join(DEMO_ROOT, relative));
  if (!file.startsWith(DEMO_ROOT) || file.split(sep).includes('..')) return refuse(res, 'not_found');
  try {
    const body = await readFile(file);
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-cache',
    });
    res.end(body);
  } catch {
    refuse(res, 'not_found');
  }
}
