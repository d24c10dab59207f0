/**
 * ICE servers handed to a peer: the relays the registry picked for it (healthy, best first, see
 * turn/fleet/registry.ts), each TURN one with TURN REST API credentials minted for this user at this moment, so
 * every peer gets its own and any relay that shares a secret accepts them.
 */
import { mintTurnCredential } from '../../turn/credentials/rest-credentials.js';
import type { BundledRelayPorts, RelayStatus } from '../../turn/fleet/registry.js';
import { REGION_PATTERN } from '../../turn/fleet/relay-spec.js';
import type { IceServer } from '../protocol/index.js';

export interface IceServerOptions {
  secrets: readonly string[];
  credentialTtlSec: number;
  /** Public address of the bundled relay; default: the host the client reached signaling at. */
  externalIp?: string | undefined;
  now?: () => number;
}

/** What signaling knows of where a client is: the host it reached us at and its region hint, if any. */
export interface RelayHint {
  host: string;
  region?: string | undefined;
}

/**
 * A client's region hint, from `?region=` on the WebSocket URL or on POST /v1/turn-credentials. A query
 * parameter rather than a JWT claim: the client (or its app) knows where it is, the backend that mints
 * tokens often does not, and the SDK passes the URL through untouched. An unusable value is ignored, not
 * refused: it only orders relays.
 */
export function regionFromQuery(url: URL): string | undefined {
  const region = url.searchParams.get('region');
  return region !== null && REGION_PATTERN.test(region) ? region : undefined;
}

export interface IceServerGrant {
  iceServers: IceServer[];
  /** Unix seconds after which relays refuse new allocations with these credentials. */
  expiresAt: number;
}

/** A TURN username may not contain ':' after the expiry, so the user id is percent-encoded. */
export function turnUserId(userId: string): string {
  return encodeURIComponent(userId);
}

/** Host part of a Host header, without port; IPv6 keeps its brackets so it can go into a URL. */
export function hostFromHeader(hostHeader: string | undefined): string {
  if (!hostHeader) return '127.0.0.1';
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  return hostHeader.split(':')[0] ?? '127.0.0.1';
}

/**
 * The bundled relay's TURN URLs in the order a client should prefer them: UDP (least overhead, the only
 * one with no head-of-line blocking), then TCP on the same port for networks that block UDP, then TLS for
 * networks that let only TLS out (RFC 8656 §3.1; RFC 7065 URL syntax). Browsers gather on all of them at
 * once and ICE prefers relayed UDP candidates, so the extra URLs cost allocations, not setup time.
 */
export function bundledTurnUrls(host: string, ports: BundledRelayPorts): string[] {
  const urls = [`turn:${host}:${ports.port}?transport=udp`];
  if (ports.tcpPort != null) urls.push(`turn:${host}:${ports.tcpPort}?transport=tcp`);
  if (ports.tlsPort != null) urls.push(`turns:${host}:${ports.tlsPort}?transport=tcp`);
  return urls;
}

/** Whom ICE servers are for, and the grant they may not outlive. */
export interface IceRequest {
  userId: string;
  hint: RelayHint;
  /** Unix seconds the user's token expires: credentials never outlive it. */
  notAfter: number;
  /**
   * The room the credentials are for: the bundled relay (room scope on) then lets them reach only that
   * room's peers. Signaling always names one; other relays (coturn) treat the credential as unscoped.
   */
  room: string;
}

/** ICE servers for `relays`, in their order. */
export function buildIceServers(
  options: IceServerOptions,
  relays: readonly RelayStatus[],
  { userId, hint, notAfter, room }: IceRequest,
): IceServerGrant {
  const { secrets, credentialTtlSec, externalIp, now = Date.now } = options;
  const hostHint = hint.host;
  const secret = secrets[0];
  if (!secret)
    return {
      iceServers: relays.flatMap((r) =>
        r.kind === 'external' && r.scheme === 'stun' ? [{ urls: r.url }] : [],
      ),
      expiresAt: 0,
    };
  const cred = mintTurnCredential({
    secret,
    userId: turnUserId(userId),
    room,
    // A credential that outlived its token would keep a leaked short-lived token's relay access going.
    ttlSeconds: Math.max(1, Math.min(credentialTtlSec, notAfter - Math.floor(now() / 1000))),
    now: now(),
  });
  const iceServers: IceServer[] = [];
  for (const relay of relays) {
    if (relay.kind === 'bundled') {
      const host = externalIp ? (externalIp.includes(':') ? `[${externalIp}]` : externalIp) : hostHint;
      iceServers.push({ urls: `stun:${host}:${relay.port}` });
      for (const urls of bundledTurnUrls(host, relay))
        iceServers.push({ urls, username: cred.username, credential: cred.credential });
    } else {
      iceServers.push(
        relay.scheme === 'stun'
          ? { urls: relay.url }
          : { urls: relay.url, username: cred.username, credential: cred.credential },
      );
    }
  }
  return { iceServers, expiresAt: cred.expiresAt };
}
