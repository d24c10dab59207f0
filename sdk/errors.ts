/**
 * Typed SDK errors. `code` is stable: either a wire-protocol code (signaling/protocol/error-codes.ts),
 * passed through from the server's `error` frames, or one of the SDK's own codes below. Match on `code`,
 * never on the message text.
 */
import { ERROR_CODES, type ErrorCode } from '../signaling/protocol/index.js';

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
  /** No WebRTC in this environment and no platform given. */
  platform_unsupported: 'No WebRTC platform available',
} as const;

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

  constructor(
    readonly code: SdkErrorCode,
    message: string = canonicalMessage(code),
    options: { cause?: unknown; peerId?: string } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.peerId = options.peerId;
  }
}
