import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test-support/sdk-fakes.js';
import { Admission } from './admission.js';
import { DRAIN_SETTLE_MS, drainDelays } from './drain-spread.js';

describe('Admission', () => {
  it('takes exactly the burst, refuses the next with a Retry-After, and refills on the clock', async () => {
    const clock = new FakeClock();
    const admission = new Admission({
      ratePerSecond: 10,
      burst: 5,
      maxRetryAfterSec: 30,
      clock,
      random: () => 0,
    });
    for (let i = 0; i < 5; i++) expect(admission.admit()).toEqual({ ok: true });
    expect(admission.admit()).toEqual({ ok: false, retryAfterSec: 1 });
    await clock.advance(99); // 10/s: one token per 100 ms
    expect(admission.admit().ok).toBe(false);
    await clock.advance(1);
    expect(admission.admit()).toEqual({ ok: true });
    expect(admission.admit().ok).toBe(false);
    await clock.advance(60_000); // refill stops at the burst
    for (let i = 0; i < 5; i++) expect(admission.admit().ok).toBe(true);
    expect(admission.admit().ok).toBe(false);
    expect({ admitted: admission.admitted, refused: admission.refused }).toEqual({
      admitted: 11,
      refused: 4,
    });
  });

  it('spreads Retry-After over the time the backlog of refused clients needs, capped', () => {
    const clock = new FakeClock();
    let r = 0;
    const admission = new Admission({
      ratePerSecond: 100,
      burst: 1,
      maxRetryAfterSec: 30,
      clock,
      random: () => r,
    });
    admission.admit();
    // 1 000 refused at once: the instance needs 10 s to take them, so the hints cover 1..10 s.
    const hints = Array.from({ length: 1000 }, (_, i) => {
      r = (i % 100) / 100;
      const d = admission.admit();
      return d.ok ? 0 : d.retryAfterSec;
    });
    expect(Math.min(...hints)).toBe(1);
    expect(hints.at(-1)).toBe(10); // the last one refused, with the highest draw, waits the whole backlog
    // A backlog beyond the cap: never more than maxRetryAfterSec.
    r = 0.999;
    for (let i = 0; i < 5000; i++) admission.admit();
    const last = admission.admit();
    expect(last).toEqual({ ok: false, retryAfterSec: 30 });
  });
});

describe('drainDelays', () => {
  const mid = () => 0.5;
  it('spreads a full instance over the spread window, one slot each, in order', () => {
    const { delays, windowMs } = drainDelays(20_000, {
      spreadMs: 20_000,
      ratePerSecond: 1000,
      timeoutMs: 25_000,
      random: mid,
    });
    expect(windowMs).toBe(20_000);
    expect(delays[0]).toBe(0);
    expect(delays.at(-1)).toBe(19_999);
    // Never more than the rate in any second of the window.
    const perSecond = new Map<number, number>();
    for (const d of delays)
      perSecond.set(Math.floor(d / 1000), (perSecond.get(Math.floor(d / 1000)) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBe(1000);
  });

  it('a window no longer than count / rate, and ending DRAIN_SETTLE_MS before the deadline', () => {
    expect(drainDelays(500, { spreadMs: 20_000, ratePerSecond: 1000, timeoutMs: 25_000 }).windowMs).toBe(500);
    expect(drainDelays(20_000, { spreadMs: 20_000, ratePerSecond: 1000, timeoutMs: 10_000 }).windowMs).toBe(
      10_000 - DRAIN_SETTLE_MS,
    );
    const short = drainDelays(4, { spreadMs: 20_000, ratePerSecond: 1000, timeoutMs: 3000 });
    expect(short).toEqual({ delays: [0, 0, 0, 0], windowMs: 0 });
    expect(drainDelays(0, { spreadMs: 20_000, ratePerSecond: 1000, timeoutMs: 25_000 }).delays).toEqual([]);
  });
});
