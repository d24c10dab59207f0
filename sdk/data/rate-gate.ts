/** A token bucket on the injected clock: keeps fallback `data` frames under the server's rate limit. */
import type { Clock } from '../clock.js';

export class RateGate {
  private tokens: number;
  private last: number;

  constructor(
    private ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** A new rate (the server announced its limit); tokens already earned are kept. */
  setRate(ratePerSecond: number): void {
    this.refill();
    this.ratePerSecond = Math.max(ratePerSecond, 0.1);
  }

  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** ms until one token is available. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond);
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
    this.last = now;
  }
}
