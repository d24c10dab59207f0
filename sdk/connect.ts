/** `connect()`: options with their defaults, the platform, and a Room resolved once welcomed. */
import type { IceServer } from '../signaling/protocol/light/index.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULTS } from './defaults.js';
import type { Link, LinkOptions } from './peer/link.js';
import type { Platform } from './platform/platform.js';
import { Room, type MemberMeta } from './room.js';
import { ExponentialBackoffPolicy, type ReconnectPolicy } from './signaling/reconnect-policy.js';

export interface ConnectOptions {
  /** Signaling WebSocket URL, e.g. `wss://signal.example.com/v1/ws`. */
  url: string;
  /** JWT from the app's backend; sent in the `bearer.` subprotocol entry, never in the URL. */
  token: string;
  /** Room to join; the token must grant it. */
  room: string;
  /** Called before every reconnect for a fresh token (long sessions outlive short-lived tokens). */
  getToken?: () => Promise<string>;
  /** Shown to other members (display name and the like). */
  meta?: MemberMeta;
  /**
   * WebRTC and WebSocket implementation. Default: the page's globals in a browser; in Node (the package's
   * `node` entry) `ws` and `@roamhq/wrtc`, optional peer dependencies the app installs.
   */
  platform?: Platform;
  /** Default: exponential backoff with full jitter, see `DEFAULTS.reconnect*`. */
  reconnectPolicy?: ReconnectPolicy;
  /** Replace the ICE servers from the welcome (default: the server's, with its TURN credentials). */
  iceServers?: IceServer[];
  /** `relay` forces TURN. Default `all`. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** Injected time source (tests). Default: the system clock. */
  clock?: Clock;
  /** ms; default `DEFAULTS.connectTimeoutMs`. */
  connectTimeoutMs?: number;
  /** ms; default `DEFAULTS.p2pConnectTimeoutMs`. */
  p2pConnectTimeoutMs?: number;
  /** ms; default `DEFAULTS.iceRetryIntervalMs`. */
  iceRetryIntervalMs?: number;
  /** ms; default `DEFAULTS.iceDisconnectedGraceMs`. */
  iceDisconnectedGraceMs?: number;
  /** ms; default `DEFAULTS.statsIntervalMs`. */
  statsIntervalMs?: number;
  /** ms; default `DEFAULTS.ackDelayMs`. */
  ackDelayMs?: number;
  /** ms; default `DEFAULTS.retransmitMs`. */
  retransmitMs?: number;
  /** Count; default `DEFAULTS.maxUnackedMessages`. */
  maxUnackedMessages?: number;
  /**
   * Frames per second at most; default: `DEFAULTS.fallbackShareOfServerRate` of the rate the server
   * announces in its welcome.
   */
  fallbackRatePerSecond?: number;
  /** Frames; default `DEFAULTS.fallbackBurst`. */
  fallbackBurst?: number;
  /** ms; default `DEFAULTS.pingIntervalMs`. */
  pingIntervalMs?: number;
  /** ms; default `DEFAULTS.pongTimeoutMs`. */
  pongTimeoutMs?: number;
  /** ms; default `DEFAULTS.turnRefreshMarginMs`. */
  turnRefreshMarginMs?: number;
  /** ms; default `DEFAULTS.orphanGraceMs`. */
  orphanGraceMs?: number;
  /** Count; default `DEFAULTS.iceRestartAttempts`. */
  iceRestartAttempts?: number;
  /** ms; default `DEFAULTS.plainPeerOfferDelayMs`. */
  plainPeerOfferDelayMs?: number;
  /** @internal Replace the link implementation (tests). */
  linkFactory?: (options: LinkOptions) => Link;
}

/**
 * Join a room; resolves once the server has welcomed us, rejects with an `SdkError` otherwise. Each entry
 * of the package (`index.ts` for browsers, `node.ts` for Node) calls this with its own default platform.
 */
export async function openRoom(
  options: ConnectOptions,
  defaultPlatform: () => Promise<Platform>,
): Promise<Room> {
  const platform = options.platform ?? (await defaultPlatform());
  const pick = <K extends keyof typeof DEFAULTS & keyof ConnectOptions>(key: K): number =>
    options[key] ?? DEFAULTS[key];
  const room = new Room({
    url: options.url,
    token: options.token,
    room: options.room,
    getToken: options.getToken,
    meta: options.meta ?? {},
    platform,
    clock: options.clock ?? systemClock,
    signaling: {
      policy: options.reconnectPolicy ?? new ExponentialBackoffPolicy(),
      connectTimeoutMs: pick('connectTimeoutMs'),
      pingIntervalMs: pick('pingIntervalMs'),
      pongTimeoutMs: pick('pongTimeoutMs'),
    },
    tuning: {
      p2pConnectTimeoutMs: pick('p2pConnectTimeoutMs'),
      iceRetryIntervalMs: pick('iceRetryIntervalMs'),
      iceDisconnectedGraceMs: pick('iceDisconnectedGraceMs'),
      ackDelayMs: pick('ackDelayMs'),
      retransmitMs: pick('retransmitMs'),
      maxUnackedMessages: pick('maxUnackedMessages'),
      maxHeldMessages: DEFAULTS.maxHeldMessages,
      maxQueuedSignals: DEFAULTS.maxQueuedSignals,
      plainPeerOfferDelayMs: pick('plainPeerOfferDelayMs'),
      iceRestartAttempts: pick('iceRestartAttempts'),
    },
    iceServers: options.iceServers,
    iceTransportPolicy: options.iceTransportPolicy ?? 'all',
    statsIntervalMs: pick('statsIntervalMs'),
    turnRefreshMarginMs: pick('turnRefreshMarginMs'),
    orphanGraceMs: pick('orphanGraceMs'),
    fallbackRatePerSecond: options.fallbackRatePerSecond ?? Infinity,
    fallbackBurst: pick('fallbackBurst'),
    unreliableChannelId: DEFAULTS.unreliableChannelId,
    frameOverheadBytes: DEFAULTS.frameOverheadBytes,
    linkFactory: options.linkFactory,
  });
  await room.start();
  return room;
}
