/**
 * ICE servers handed to a peer: the bundled relay (when embedded) and the configured external relays,
 * each with TURN REST API credentials minted for this user. Any relay that shares a secret accepts them.
 */
import { mintTurnCredential } from '../../turn/credentials/rest-credentials.js';
import type { IceServer } from '../protocol/index.js';

export interface IceServerOptions {
  secrets: readonly string[];
  credentialTtlSec: number;
  /** Bundled relay's UDP port, or null when no relay is embedded. */
  embeddedPort: number | null;
  /** Public address of the bundled relay; default: the host the client reached signaling at. */
  externalIp?: string | undefined;
  /** External relays: turn:, turns: or stun: URLs. */
  servers: readonly string[];
  now?: () => number;
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

export function buildIceServers(options: IceServerOptions, userId: string, hostHint: string): IceServerGrant {
  const { secrets, credentialTtlSec, embeddedPort, externalIp, servers, now = Date.now } = options;
  const secret = secrets[0];
  const ttl = credentialTtlSec;
  if (!secret)
    return {
      iceServers: servers.filter((u) => u.startsWith('stun:')).map((urls) => ({ urls })),
      expiresAt: 0,
    };
  const cred = mintTurnCredential({ secret, userId: turnUserId(userId), ttlSeconds: ttl, now: now() });
  const iceServers: IceServer[] = [];
  if (embeddedPort !== null) {
    const host = externalIp ? (externalIp.includes(':') ? `[${externalIp}]` : externalIp) : hostHint;
    iceServers.push({ urls: `stun:${host}:${embeddedPort}` });
    iceServers.push({
      urls: `turn:${host}:${embeddedPort}?transport=udp`,
      username: cred.username,
      credential: cred.credential,
    });
  }
  for (const urls of servers) {
    iceServers.push(
      urls.startsWith('stun:') ? { urls } : { urls, username: cred.username, credential: cred.credential },
    );
  }
  return { iceServers, expiresAt: cred.expiresAt };
}
