/**
 * Stable error codes of the wire protocol and of the HTTP refusals beside it (the upgrade, the TURN
 * credential route, the admin API). Clients and tests match on `code`, never on message text. Only add to
 * this list; never reuse or rename a code. Close codes live in the WebSocket application range 4000–4999
 * (RFC 6455 §7.4.2); `http` is the status of an HTTP refusal with this code.
 */
export const ERROR_CODES = {
  /** Frame is not JSON, or does not match any message schema. */
  bad_message: { close: 4400, message: 'Malformed message' },
  /** `type` is not a known client message type. */
  unknown_type: { close: 4400, message: 'Unknown message type' },
  /** Frame larger than the configured maximum message size. */
  payload_too_large: { close: 4413, message: 'Message too large' },
  /** Per-connection message rate exceeded; the message was dropped. */
  rate_limited: { close: 4429, message: 'Rate limit exceeded' },
  /** Token missing, invalid, expired, or for another audience or issuer. */
  unauthorized: { close: 4401, message: 'Not authorized', http: 401 },
  /** The token does not grant the room asked for. */
  forbidden_room: { close: 4403, message: 'Token does not grant this room' },
  /** The room has reached its member cap. */
  room_full: { close: 4409, message: 'Room is full' },
  /** The sender is not in a room, or the target is not a member of the sender's room. */
  not_in_room: { close: 4404, message: 'Not in the same room' },
  /** A join while already in a room: leave first. */
  already_joined: { close: 4409, message: 'Already in a room' },
  /** A resume named a session that is unknown or expired; join afresh. */
  session_expired: { close: 4410, message: 'Session unknown or expired' },
  /** Server-side failure; the request may be retried. */
  internal: { close: 4500, message: 'Internal error', http: 500 },
  /** The server is draining; reconnect (to another instance). */
  server_draining: { close: 4503, message: 'Server is draining', http: 503 },
  /** The peer read too slowly and its send buffer passed the limit. */
  backpressure: { close: 4508, message: 'Send buffer limit exceeded' },
  /** No pong to a heartbeat ping in time. */
  heartbeat_timeout: { close: 4408, message: 'Heartbeat timed out' },
  /** The connection's token expired and no fresh one came (`refresh-token`); reconnect with a new token. */
  token_expired: { close: 4498, message: 'Token expired' },
  /** A newer connection resumed this session: this one is closed and must not reconnect on its own. */
  session_replaced: { close: 4497, message: 'Session resumed on a newer connection' },
  /** An operator removed this peer from its room (or closed the room). */
  kicked: { close: 4496, message: 'Removed by an operator' },
  /** An operator revoked this user: every connection closed, older tokens refused. */
  revoked: { close: 4495, message: 'User revoked' },
  /** No such route or WebSocket path. */
  not_found: { close: 4404, message: 'Not found', http: 404 },
  /** The request is malformed (HTTP routes). */
  bad_request: { close: 4400, message: 'Bad request', http: 400 },
  /** The token lacks the grant the route needs (the admin API's `admin` claim). */
  forbidden: { close: 4403, message: 'Forbidden', http: 403 },
  /** The browser Origin is not on the allow-list. */
  origin_not_allowed: { close: 4403, message: 'Origin not allowed', http: 403 },
  /** This instance holds its connection cap. */
  server_full: { close: 4503, message: 'Server is full', http: 503 },
  /**
   * This instance takes new connections at its admission rate and this one came past it: retry after the
   * HTTP `Retry-After` (seconds; each refusal its own, spread over the backlog), here or elsewhere.
   */
  server_busy: { close: 4503, message: 'Server is busy: retry later', http: 503 },
  /** The client address holds its connection cap. */
  too_many_connections: { close: 4429, message: 'Too many connections from this address', http: 429 },
} as const satisfies Record<string, { close: number; message: string; http?: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const errorCodeList = Object.keys(ERROR_CODES) as ErrorCode[];

/** Codes an HTTP refusal may carry, with their status. */
export type HttpErrorCode = {
  [K in ErrorCode]: (typeof ERROR_CODES)[K] extends { http: number } ? K : never;
}[ErrorCode];

export function httpStatusOf(code: HttpErrorCode): number {
  return (ERROR_CODES[code] as { http: number }).http;
}

/** Typed protocol error: thrown inside the server, and raised by the SDK for `error` frames. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].message,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get closeCode(): number {
    return ERROR_CODES[this.code].close;
  }
}
