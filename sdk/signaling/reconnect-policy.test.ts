import { describe, expect, it } from 'vitest';
import { ExponentialBackoffPolicy } from './reconnect-policy.js';

describe('ExponentialBackoffPolicy', () => {
  it('doubles the ceiling per attempt up to the cap (random = just under 1 shows the ceiling)', () => {
    const policy = new ExponentialBackoffPolicy({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.9999 });
    const delays = [1, 2, 3, 4, 5, 6].map((attempt) => policy.nextDelayMs({ attempt, elapsedMs: 0 }));
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('applies full jitter: the delay is uniform from 0 to the ceiling', () => {
    const policy = new ExponentialBackoffPolicy({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0 });
    expect(policy.nextDelayMs({ attempt: 5, elapsedMs: 0 })).toBe(0);
    const half = new ExponentialBackoffPolicy({ baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 });
    expect(half.nextDelayMs({ attempt: 3, elapsedMs: 0 })).toBe(200);
  });

  it('stops after maxAttempts or maxElapsedMs', () => {
    const policy = new ExponentialBackoffPolicy({ maxAttempts: 3, maxElapsedMs: 5000, random: () => 0.5 });
    expect(policy.nextDelayMs({ attempt: 3, elapsedMs: 0 })).not.toBeNull();
    expect(policy.nextDelayMs({ attempt: 4, elapsedMs: 0 })).toBeNull();
    expect(policy.nextDelayMs({ attempt: 1, elapsedMs: 5000 })).toBeNull();
  });

  it('never overflows for huge attempt numbers', () => {
    const policy = new ExponentialBackoffPolicy({
      maxAttempts: Infinity,
      maxDelayMs: 10_000,
      random: () => 0.5,
    });
    expect(policy.nextDelayMs({ attempt: 10_000, elapsedMs: 0 })).toBe(5000);
  });
});
