/** The bundled relay's options, each documented with its default, and the defaults in one place. */
import type { Logger } from 'pino';
import type { ExternalMapping } from './listen-addresses.js';
import type { RoomScopeMode } from './room-scope.js';
import type { WorkerHooks } from './worker-hooks.js';

/** The SOFTWARE attribute of every response. */
export const SOFTWARE = 'relay-platform';

export interface TurnServerOptions {
  /**
   * Local addresses to listen and relay on, one socket each: `0.0.0.0` stands for every IPv4 address of
   * this host and `::` for every IPv6 one (see listen-addresses.ts). Default (TURN_HOST) both.
   */
  hosts: readonly string[];
  /** STUN/TURN port for UDP and TCP; 0 picks a free one. */
  port: number;
  realm: string;
  /** TURN REST API secrets: any of them verifies; the first also keys the nonces. */
  secrets: readonly string[];
  /**
   * Addresses advertised in XOR-RELAYED-ADDRESS instead of the local one (coturn's `external-ip`: a bare
   * public address, or public/private pairs). Default none: the relayed address is the local address of
   * the relay socket, which is the address the client contacted.
   */
  externalIps: readonly ExternalMapping[];
  /** Relay port range, inclusive. */
  minPort: number;
  maxPort: number;
  /** CIDRs the peer policy allows over its default deny list, and extra CIDRs it denies. */
  allowedPeers: readonly string[];
  deniedPeers: readonly string[];
  /** Allocations (and reserved ports) per user id (486 past it) and in total (508 past it). */
  userQuota: number;
  totalQuota: number;
  /** Longest allocation lifetime a client may ask for, seconds. */
  maxLifetimeSec: number;
  /** Per-allocation relay bandwidth cap, bytes per second; default none. */
  bandwidthBps?: number | undefined;
  /** Lifetime when the client asks for less or none, seconds. Default 600 (RFC 8656 §3.2). */
  defaultLifetimeSec?: number;
  /** Permission lifetime, seconds. Default 300 (RFC 8656 §9). */
  permissionLifetimeSec?: number;
  /** Channel binding lifetime, seconds. Default 600 (RFC 8656 §12). */
  channelLifetimeSec?: number;
  /** Nonce lifetime, seconds. Default 600, as coturn's stale-nonce. */
  nonceLifetimeSec?: number;
  /**
   * Peers one allocation may hold permissions for (508 past it, RFC 8656 §10.2). Default 256: a mesh
   * call needs a few per remote peer; the cap bounds what one client can make the relay remember.
   */
  maxPermissions?: number;
  /** How long a port reserved by EVEN-PORT waits for its Allocate, ms. Default 30 000 (RFC 8656 §14.9). */
  reservationMs?: number;
  /** Ports tried before an Allocate gets 508. Default 64. */
  bindAttempts?: number;
  /** Accept clients over TCP too, on the same port number (RFC 8656 §3.1). Default true. */
  tcp?: boolean;
  /** TURN over TLS on this port (RFC 8656 §3.1, TLS 1.2 and 1.3); 0 picks a free one. Default off. */
  tlsPort?: number | null | undefined;
  /**
   * PEM certificate chain and key for TLS, reloaded when the files change; both or neither. Without them
   * a self-signed certificate is made for the run (development: clients will not trust it).
   */
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  /** A TLS client whose handshake has not finished after this long is closed, ms. Default 10 000. */
  tlsHandshakeTimeoutMs?: number;
  /** TCP and TLS connections open at once, together; more are refused. Default 2000. */
  maxTcpConnections?: number;
  /**
   * TCP and TLS connections open at once from one client address (an IPv6 client by its /64), counted
   * across both listeners; more from it are refused while other clients are still served. Default 200
   * (TURN_MAX_STREAMS_PER_IP, where the figure is argued).
   */
  maxStreamsPerIp?: number;
  /** A TCP connection with no allocation is closed after this idle time, ms. Default 30 000. */
  tcpIdleMs?: number;
  /** Bytes waiting to be written to one TCP client before relayed packets are dropped. Default 1 MiB. */
  tcpSendBufferBytes?: number;
  /**
   * Room scope (room-scope.ts): 'on' grants a room-bound credential's permissions only toward its room's
   * announced addresses and allocations, leaving unscoped credentials alone; 'strict' also refuses an
   * Allocate with an unscoped credential (403); 'off' scopes nothing. Default 'off' here (a relay that
   * hears no announcements); the relay `npm start` embeds turns it on (TURN_ROOM_SCOPE).
   */
  roomScope?: RoomScopeMode | undefined;
  /** How long a permission toward an address its room has not announced yet waits for it, ms. Default 1000. */
  roomScopeWaitMs?: number;
  /** An announced room address is forgotten this long after its last announcement, ms. Default 3 600 000. */
  roomAddressTtlMs?: number;
  /** Announced addresses kept per room (the oldest go first). Default 256. */
  maxAddressesPerRoom?: number;
  /** Rooms whose announced addresses are kept (the longest silent go first). Default 10 000. */
  maxAnnouncedRooms?: number;
  /** Permissions waiting for an announcement at once; past it they get 403 at once. Default 1000. */
  maxRoomScopeWaits?: number;
  /** How often expired allocations, permissions, channels and reservations are swept, ms. Default 1000. */
  sweepIntervalMs?: number;
  /**
   * Set when this relay is one worker of several (relay-workers.ts): how it binds its listening sockets,
   * and the primary that keeps the quotas and room addresses global. Default none: a relay on its own.
   */
  worker?: WorkerHooks | undefined;
  logger?: Logger | undefined;
  /** Clock in milliseconds; injectable for expiry tests. */
  now?: () => number;
}

/** Every optional limit's default, in one place. */
export const TURN_SERVER_DEFAULTS = {
  defaultLifetimeSec: 600,
  permissionLifetimeSec: 300,
  channelLifetimeSec: 600,
  nonceLifetimeSec: 600,
  maxPermissions: 256,
  reservationMs: 30_000,
  bindAttempts: 64,
  sweepIntervalMs: 1000,
  maxTcpConnections: 2000,
  maxStreamsPerIp: 200,
  tcpIdleMs: 30_000,
  tcpSendBufferBytes: 1 << 20,
  tlsHandshakeTimeoutMs: 10_000,
  roomScopeWaitMs: 1000,
  roomAddressTtlMs: 3_600_000,
  maxAddressesPerRoom: 256,
  maxAnnouncedRooms: 10_000,
  maxRoomScopeWaits: 1000,
} as const;

export type Limits = { -readonly [K in keyof typeof TURN_SERVER_DEFAULTS]: number };
