/**
 * Every default of the SDK, in one place. Each option of `connect()` documents its unit and points here;
 * nothing else in `sdk/` hard-codes a tunable number.
 */
export const DEFAULTS = {
  /** ms for the first WebSocket open + `welcome`; `connect()` rejects with `connect_timeout` after it. */
  connectTimeoutMs: 15_000,
  /** ms a new peer link may take to connect before that pair's data moves to the WebSocket path. */
  p2pConnectTimeoutMs: 8_000,
  /** ms between attempts at a fresh peer link while a pair is on the WebSocket path. */
  iceRetryIntervalMs: 10_000,
  /**
   * ms a link may sit in ICE `disconnected` before ICE is restarted on it (a `failed` ICE restarts at
   * once); a restart not connected within `p2pConnectTimeoutMs` is tried again, up to
   * `iceRestartAttempts` in all, and then the link is replaced.
   */
  iceDisconnectedGraceMs: 4_000,
  /** ICE restarts tried on a link (each given `p2pConnectTimeoutMs`) before it is replaced. */
  iceRestartAttempts: 2,
  /**
   * ms a peer that does not run this SDK (no `~sdk` in its member meta) gets to send the first offer
   * before we send ours; either way we are the polite side toward it.
   */
  plainPeerOfferDelayMs: 1_000,
  /** Received-packet loss in percent above which a link's quality is `poor`. */
  poorLossPercent: 5,
  /** Round-trip time in ms above which a link's quality is `poor`. */
  poorRttMs: 400,
  /** ms between `getStats()` polls that report each pair's path and RTT. */
  statsIntervalMs: 2_000,
  /** ms a receiver waits to batch cumulative acks of reliable messages. */
  ackDelayMs: 40,
  /** ms after which an unacknowledged reliable message is resent on the WebSocket path. */
  retransmitMs: 1_500,
  /** Unacknowledged reliable messages kept per pair; `send` past it fails with `send_buffer_full`. */
  maxUnackedMessages: 4_096,
  /** Out-of-order reliable messages a receiver holds per pair while waiting for a gap to fill. */
  maxHeldMessages: 4_096,
  /**
   * Share of the server's announced message rate (`welcome.limits.ratePerSecond`, per connection) that
   * fallback `data` frames may use, all pairs together; the rest stays for signals and pings.
   */
  fallbackShareOfServerRate: 0.5,
  /** Fallback frames per second before the welcome announces the server's limit (and the cap after). */
  fallbackRatePerSecond: 50,
  /** Burst of fallback `data` frames. */
  fallbackBurst: 80,
  /** ms between application pings to signaling (browsers cannot see WebSocket pings). */
  pingIntervalMs: 10_000,
  /** ms of silence after a ping before the socket is considered dead and reconnected. */
  pongTimeoutMs: 10_000,
  /** ms before TURN credentials expire at which fresh ones are requested (at most half the lifetime). */
  turnRefreshMarginMs: 5 * 60_000,
  /**
   * ms a peer missing from a fresh (non-resumed) join stays in the room while its link lives, waiting for
   * it to rejoin; then it is reported as left.
   */
  orphanGraceMs: 30_000,
  /** ms `close()` waits for the server to confirm the leave before closing links anyway. */
  leaveTimeoutMs: 1_000,
  /** Signals held per pair while signaling is down, flushed after the session resumes. */
  maxQueuedSignals: 512,
  /** Reconnect backoff: first ceiling, ms (full jitter: the delay is uniform in [0, ceiling]). */
  reconnectBaseDelayMs: 300,
  /** Reconnect backoff: largest ceiling, ms. */
  reconnectMaxDelayMs: 10_000,
  /**
   * ms added before the next attempt after an attempt that failed before its socket opened, when the
   * server's `Retry-After` cannot be read (a browser sees a refused upgrade, `server_busy` included, only
   * as close 1006): a busy instance is not asked again within the first-retry jitter.
   */
  refusedRetryFloorMs: 1_000,
  /** ms of jitter added to a server's `Retry-After` (whole seconds) so refused clients do not return together. */
  retryAfterJitterMs: 1_000,
  /** Reconnect attempts before giving up (about five minutes with the defaults above). */
  reconnectMaxAttempts: 40,
  /** SCTP stream id of the negotiated unreliable data channel; both sides create it with this id. */
  unreliableChannelId: 1000,
  /** Bytes reserved in a signaling frame for the envelope around a message payload. */
  frameOverheadBytes: 512,
} as const;

export type Defaults = typeof DEFAULTS;
