/**
 * When each client of a draining instance is told to move. Told all at once (`afterMs: 0`), a full
 * instance's clients reach the others within the SDK's first-retry jitter (300 ms): 20 000 upgrades in a
 * third of a second against instances that take about 1 600 a second. Instead each client gets its own
 * `afterMs`, one slot each over a window long enough for the others to take them under their admission
 * rate (connection/admission.ts). The SDK keeps its connection (and its signals) here until its time,
 * then reconnects and resumes elsewhere; a client that leaves at once still waits `afterMs` before it
 * comes back (the protocol makes it a floor).
 */

/** Time kept after the window for the last clients to move before the drain closes the rest, ms. */
export const DRAIN_SETTLE_MS = 5_000;

export interface DrainSpreadOptions {
  /** Longest window, ms (DRAIN_SPREAD_MS). */
  spreadMs: number;
  /** The admission rate of one instance, per second (ADMISSION_RATE_PER_S): a window need not be longer than count / rate. */
  ratePerSecond: number;
  /** The whole drain's deadline, ms: the window ends {@link DRAIN_SETTLE_MS} before it. */
  timeoutMs: number;
  /** Source of randomness in [0, 1); tests inject one. */
  random?: () => number;
}

/**
 * One `afterMs` per client (in the order given) over the window: client i in the i-th of `count` equal
 * slots, at a random point inside it, so arrivals are even and no two instances' drains line up.
 */
export function drainDelays(
  count: number,
  options: DrainSpreadOptions,
): { delays: number[]; windowMs: number } {
  const random = options.random ?? Math.random;
  const windowMs = Math.max(
    0,
    Math.floor(
      Math.min(options.spreadMs, (count * 1000) / options.ratePerSecond, options.timeoutMs - DRAIN_SETTLE_MS),
    ),
  );
  const slot = count > 0 ? windowMs / count : 0;
  const delays = Array.from({ length: count }, (_, i) => Math.floor((i + random()) * slot));
  return { delays, windowMs };
}
