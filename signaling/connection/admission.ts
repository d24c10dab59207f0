/**
 * Admission control: how many new WebSockets one instance takes per second. A crashed or drained
 * instance sends its clients to the others all at once, and every accept costs a JWT verification, a
 * join on the bus and a welcome; an instance that tries to take them all at once stalls its existing
 * clients (their signals wait behind the accepts) and may take none of the newcomers in time. So the
 * upgrade handler asks here first, before the costly work, and a client past the rate gets
 * `503 server_busy` with `Retry-After`: it costs the server one short HTTP answer.
 *
 * There is no queue: a waiting upgrade would hold a socket and a timer on an instance that is already
 * behind. Instead each refusal gets its own Retry-After, drawn over the time the instance needs to take
 * everyone it has recently refused (`backlog / rate`), so the refused clients come back spread over that
 * time instead of together at the next second.
 */
import type { Clock } from '../../common/clock.js';
import { TokenBucket } from './token-bucket.js';

export interface AdmissionOptions {
  /** New connections per second taken when sustained (ADMISSION_RATE_PER_S). */
  ratePerSecond: number;
  /** New connections taken at once after a quiet spell (ADMISSION_BURST). */
  burst: number;
  /** Longest Retry-After handed out, seconds (ADMISSION_MAX_RETRY_AFTER_S). */
  maxRetryAfterSec: number;
  clock: Clock;
  /** Source of randomness in [0, 1); tests inject one. */
  random?: () => number;
}

/** The answer for one upgrade: taken, or refused with the seconds to wait (at least 1). */
export type AdmissionDecision = { ok: true } | { ok: false; retryAfterSec: number };

export class Admission {
  private readonly bucket: TokenBucket;
  private readonly random: () => number;
  /** Clients refused lately and not yet served, decaying at the rate (the instance takes them then). */
  private backlog = 0;
  private backlogAt: number;
  /** Upgrades taken and refused since start (the metrics read these). */
  admitted = 0;
  refused = 0;

  constructor(private readonly options: AdmissionOptions) {
    const { clock } = options;
    this.bucket = new TokenBucket(options.ratePerSecond, options.burst, () => clock.now());
    this.random = options.random ?? Math.random;
    this.backlogAt = clock.now();
  }

  /** Take one upgrade, or refuse it with a Retry-After spread over the current backlog. */
  admit(): AdmissionDecision {
    if (this.bucket.take()) {
      this.admitted++;
      return { ok: true };
    }
    this.refused++;
    const now = this.options.clock.now();
    const { ratePerSecond, maxRetryAfterSec } = this.options;
    this.backlog = Math.max(0, this.backlog - ((now - this.backlogAt) / 1000) * ratePerSecond) + 1;
    this.backlogAt = now;
    // Uniform over [1, backlog / rate] seconds: the refused arrive back at about the rate. HTTP's
    // Retry-After is whole seconds (RFC 9110 §10.2.3), so the client adds its own sub-second jitter.
    const spreadSec = Math.min(maxRetryAfterSec, Math.max(1, Math.ceil(this.backlog / ratePerSecond)));
    return { ok: false, retryAfterSec: 1 + Math.floor(this.random() * spreadSec) };
  }
}
