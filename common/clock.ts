/**
 * The one clock of a server process: wall time and timers. Signaling's dispatcher, connections, heartbeat,
 * room buses and the relay registry take it injected, so a test decides when time passes (token expiry,
 * resume windows, probe rounds) instead of sleeping through it (`test-support/sdk-fakes.ts`'s FakeClock);
 * production uses {@link systemClock}. The SDK's clock (`sdk/clock.ts`) has the same shape.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's clock. Its timers are unref'd: every timer a server keeps (heartbeats, expiries, probes) is
 * background work that must never be what keeps a process alive.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Run `fn` every `ms` on `clock` until the returned function is called. Each run is armed after the
 * previous one returned, so a slow run delays the next instead of piling up.
 */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let handle: unknown = null;
  let stopped = false;
  const arm = () => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      fn();
      if (!stopped) arm();
    }, ms);
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
