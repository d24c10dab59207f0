/**
 * When to try signaling again after a drop. A policy is an object that answers "how long until the next
 * attempt?" with a delay in ms, or `null` for "stop". The default is exponential backoff with full jitter
 * and a cap (the AWS architecture blog's "full jitter": delay = random(0, min(cap, base * 2^n))), so a
 * fleet of clients dropped by one server restart does not come back in lockstep.
 */
import { DEFAULTS } from '../defaults.js';

export interface ReconnectContext {
  /** 1 for the first attempt after a drop. */
  attempt: number;
  /** ms since the connection dropped. */
  elapsedMs: number;
  /** Why the previous attempt (or the connection) failed. */
  lastError?: unknown;
}

export interface ReconnectPolicy {
  /** ms to wait before attempt `ctx.attempt`, or null to give up. */
  nextDelayMs(ctx: ReconnectContext): number | null;
}

export interface BackoffOptions {
  /** First ceiling, ms. Default `DEFAULTS.reconnectBaseDelayMs`. */
  baseDelayMs?: number;
  /** Largest ceiling, ms. Default `DEFAULTS.reconnectMaxDelayMs`. */
  maxDelayMs?: number;
  /** Attempts before giving up. Default `DEFAULTS.reconnectMaxAttempts`; Infinity never gives up. */
  maxAttempts?: number;
  /** Give up once this many ms have passed since the drop. Default: no limit. */
  maxElapsedMs?: number;
  /** Source of randomness in [0, 1); injected by tests. */
  random?: () => number;
}

export class ExponentialBackoffPolicy implements ReconnectPolicy {
  private readonly base: number;
  private readonly max: number;
  private readonly maxAttempts: number;
  private readonly maxElapsedMs: number;
  private readonly random: () => number;

  constructor(options: BackoffOptions = {}) {
    this.base = options.baseDelayMs ?? DEFAULTS.reconnectBaseDelayMs;
    this.max = options.maxDelayMs ?? DEFAULTS.reconnectMaxDelayMs;
    this.maxAttempts = options.maxAttempts ?? DEFAULTS.reconnectMaxAttempts;
    this.maxElapsedMs = options.maxElapsedMs ?? Infinity;
    this.random = options.random ?? Math.random;
  }

  nextDelayMs({ attempt, elapsedMs }: ReconnectContext): number | null {
    if (attempt > this.maxAttempts || elapsedMs >= this.maxElapsedMs) return null;
    // 2^30 is far past any cap; clamping the exponent keeps the arithmetic finite.
    const ceiling = Math.min(this.max, this.base * 2 ** Math.min(attempt - 1, 30));
    return Math.floor(this.random() * ceiling);
  }
}
