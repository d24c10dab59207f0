/**
 * Typed SDK errors. `code` is stable: either a wire-protocol code (signaling/protocol/error-codes.ts),
 * passed through from the server's `error` frames, or one of the SDK's own codes below. Match on `code`,
 * never on the message text.
 */
import { ERROR_CODES, type ErrorCode } from '../signaling/protocol/light/index.js';

export const SDK_ERROR_CODES = {
  /** No welcome from signaling within `connectTimeoutMs`. */
  connect_timeout: 'Timed out waiting for the welcome',
  /** The WebSocket to signaling could not be opened or closed before the welcome. */
  signaling_unavailable: 'Signaling is unreachable',
  /** The reconnect policy said stop; the room is closed. */
  reconnect_gave_up: 'Gave up reconnecting to signaling',
  /** The room was closed; nothing more can be sent. */
  room_closed: 'Room is closed',
  /** More unacknowledged reliable messages for a peer than `maxUnackedMessages`. */
  send_buffer_full: 'Too many unacknowledged reliable messages',
  /** No member with that peer id. */
  unknown_peer: 'No such peer in the room',
  /** Channel names starting with `~` are reserved for the SDK. */
  reserved_channel: 'Channel names starting with ~ are reserved',
  /** The token-refresh callback threw or rejected. */
  token_refresh_failed: 'getToken() failed',
  /** A peer link closed or failed (it is replaced; reported for observability). */
  peer_link_failed: 'Peer link failed',
  /** `replaceTrack` named a track that is not published. */
  unknown_track: 'No such published track',
  /** No WebRTC in this environment and no platform given. */
  platform_unsupported: 'No WebRTC platform available',
} as const;

/**
 * Why a pair could go neither direct nor relayed (the `p2p-failed` event and `RemotePeer.p2pFailure`):
 * one stable code per cause, with a sentence an app can show as is. Its data still flows through
 * signaling meanwhile. See `peer/p2p-diagnosis.ts` for how each is told apart.
 */
export const P2P_FAILURE_REASONS = {
  /** A TURN server answered 401 to the credentials (RFC 8656 §7.2: wrong secret, or expired). */
  turn_unauthorized: 'The TURN server refused our credentials',
  /** A TURN server refused an allocation for quota or capacity (486, 508). */
  turn_quota: 'The TURN server has no allocation left for us',
  /** TURN servers are configured but none gave us a relay address, although UDP works. */
  turn_unreachable: 'No TURN server could be reached',
  /** No STUN or TURN server answered over UDP, and no TCP or TLS relay was reachable. */
  udp_blocked: 'This network blocks UDP and no TURN server over TCP or TLS was reachable',
  /** We have a relay address, but the other side offers only private addresses the relay may not reach. */
  peer_denied_by_relay: 'The relay may not reach the other side: it offers only private addresses',
  /** No TURN server is configured and the two networks cannot reach each other directly. */
  no_relay_configured: 'No direct path, and no TURN server is configured',
  /** Both sides had candidates, every pair was tried, none answered in time. */
  ice_timeout: 'No candidate pair answered in time',
} as const;

export type P2pFailureReason = keyof typeof P2P_FAILURE_REASONS;

export type SdkOwnErrorCode = keyof typeof SDK_ERROR_CODES;
export type SdkErrorCode = ErrorCode | SdkOwnErrorCode;

function canonicalMessage(code: SdkErrorCode): string {
  return code in ERROR_CODES
    ? ERROR_CODES[code as ErrorCode].message
    : SDK_ERROR_CODES[code as SdkOwnErrorCode];
}

export class SdkError extends Error {
  override readonly name = 'SdkError';
  /** Remote peer the error concerns, when it concerns one. */
  readonly peerId: string | undefined;
  /**
   * ms the server asked us to wait before trying again (`server_busy`: its HTTP `Retry-After`, which only
   * Node can read; a browser sees a refused upgrade as a bare close 1006).
   */
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly code: SdkErrorCode,
    message: string = canonicalMessage(code),
    options: { cause?: unknown; peerId?: string; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.peerId = options.peerId;
    this.retryAfterMs = options.retryAfterMs;
  }
}
