/**
 * Everything decided before a WebSocket exists: path, drain state, capacity, Origin and the token.
 * A refused upgrade gets an HTTP status and a JSON body with a stable code; no WebSocket is created.
 */
import type { IncomingMessage } from 'node:http';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX, type HttpErrorCode } from '../protocol/index.js';
import { originAllowed, type OriginPolicyOptions } from './origin-policy.js';
import type { Grant, TokenVerifier } from './token-verifier.js';

/** A refusal: its code (with its HTTP status in the error list) and a reason safe to show the client. */
export type UpgradeDecision =
  | { ok: true; grant: Grant; ip: string }
  | { ok: false; code: HttpErrorCode; reason: string; detail?: string; retryAfterSec?: number };

export interface UpgradeGate {
  path: string;
  verifier: TokenVerifier;
  origins: OriginPolicyOptions;
  trustProxy: boolean;
  draining: () => boolean;
  connectionCount: () => number;
  connectionsFrom: (ip: string) => number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Whether a token of this user issued then is refused (a revocation). */
  revoked: (userId: string, issuedAt: number | undefined) => boolean;
  /**
   * Admission control (connection/admission.ts): asked after the cheap checks, before the token is
   * verified; a refusal carries its Retry-After in seconds.
   */
  admit?: () => { ok: true } | { ok: false; retryAfterSec: number };
}

/** Client address; behind a trusted proxy, the hop the proxy appended last to X-Forwarded-For. */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = req.headers['x-forwarded-for'];
  if (trustProxy && typeof forwarded === 'string') {
    const hops = forwarded
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const last = hops[hops.length - 1];
    if (last) return last;
  }
  return req.socket.remoteAddress ?? 'unknown';
}

/** The JWT from `?token=` or from a `bearer.<jwt>` subprotocol entry (browsers cannot set headers). */
export function tokenFrom(req: IncomingMessage, url: URL): string | undefined {
  const query = url.searchParams.get('token');
  if (query) return query;
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return undefined;
  for (const entry of header.split(',')) {
    const value = entry.trim();
    if (value.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) return value.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
  }
  return undefined;
}

/** Pick our subprotocol when offered; never echo the bearer entry back. */
export function selectSubprotocol(offered: Set<string>): string | false {
  return offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

export function decideUpgrade(req: IncomingMessage, gate: UpgradeGate): UpgradeDecision {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  if (url.pathname !== gate.path) return { ok: false, code: 'not_found', reason: 'no WebSocket here' };
  if (gate.draining()) return { ok: false, code: 'server_draining', reason: 'draining' };
  if (gate.connectionCount() >= gate.maxConnections)
    return { ok: false, code: 'server_full', reason: 'instance full' };
  const ip = clientIp(req, gate.trustProxy);
  if (gate.connectionsFrom(ip) >= gate.maxConnectionsPerIp) {
    return { ok: false, code: 'too_many_connections', reason: 'per-address connection cap' };
  }
  if (!originAllowed(req.headers.origin, req.headers.host, gate.origins)) {
    return { ok: false, code: 'origin_not_allowed', reason: 'origin not allowed' };
  }
  // Past the cheap checks (a client refused by them spends no admission), before the costly ones.
  const admitted = gate.admit?.() ?? { ok: true };
  if (!admitted.ok)
    return { ok: false, code: 'server_busy', reason: 'busy', retryAfterSec: admitted.retryAfterSec };
  const token = tokenFrom(req, url);
  if (!token) return { ok: false, code: 'unauthorized', reason: 'missing token' };
  const verified = gate.verifier.verify(token);
  if (!verified.ok)
    return { ok: false, code: 'unauthorized', reason: verified.reason, detail: verified.detail };
  if (gate.revoked(verified.grant.userId, verified.grant.issuedAt))
    return { ok: false, code: 'unauthorized', reason: 'token revoked' };
  return { ok: true, grant: verified.grant, ip };
}
