/** One shared clock function, not a bound copy per bucket (one bucket per connection). */
const monotonicNow = (): number => performance.now();

/** Token bucket: `ratePerSecond` sustained, `burst` at once. The clock is injected so tests need not sleep. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly now: () => number = monotonicNow,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Take `cost` tokens; false (and nothing taken) when there are not enough. */
  take(cost = 1): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSecond);
    this.last = t;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }
}
