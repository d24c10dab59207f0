/**
 * Many real SDK signaling clients (`SignalingClient`, the code a room runs) in one Node process, for load
 * tests: connect them paced by the server's own answer (a `server_busy` refusal's Retry-After), count
 * their joins, and time signals between pairs.
 */
import { systemClock } from '../sdk/clock.js';
import { SdkError } from '../sdk/errors.js';
import { nodePlatform } from '../sdk/platform/node.js';
import type { Platform } from '../sdk/platform/platform.js';
import { ExponentialBackoffPolicy } from '../sdk/signaling/reconnect-policy.js';
import { SignalingClient, type JoinKind } from '../sdk/signaling/signaling-client.js';

export interface LoadClient {
  user: string;
  room: string;
  client: SignalingClient;
  peerId: string;
  /** Every join after the first, with its kind, and when (Date.now()). */
  rejoins: Array<{ kind: JoinKind; at: number; peerId: string }>;
  /** Set when the client gave up (a terminal `closed` with an error). */
  gaveUp: SdkError | null;
  /** Why each reconnect attempt was made: the previous failure's code or message. */
  retries: string[];
}

let platform: Platform | null = null;

/**
 * Open and join one client; a `server_busy` first connect is retried after its Retry-After (as an app
 * would), anything else throws.
 */
export async function openLoadClient(
  url: string,
  token: string,
  user: string,
  room: string,
  options: { attempts?: number } = {},
): Promise<LoadClient> {
  platform ??= nodePlatform();
  for (let attempt = 1; ; attempt++) {
    const client = new SignalingClient({
      url,
      token,
      getToken: undefined,
      room,
      meta: {},
      platform: platform,
      clock: systemClock,
      policy: new ExponentialBackoffPolicy({ maxAttempts: Infinity, maxElapsedMs: 120_000 }),
      connectTimeoutMs: 30_000,
      pingIntervalMs: 10_000,
      pongTimeoutMs: 20_000,
    });
    try {
      const welcome = await client.start();
      const entry: LoadClient = {
        user,
        room,
        client,
        peerId: welcome.peerId,
        rejoins: [],
        gaveUp: null,
        retries: [],
      };
      client.on('reconnecting', ({ error }) =>
        entry.retries.push(error instanceof SdkError ? `${error.code}: ${error.message}` : String(error)),
      );
      client.on('joined', ({ kind, welcome: w }) =>
        entry.rejoins.push({ kind, at: Date.now(), peerId: w.peerId }),
      );
      client.on('closed', ({ error }) => (entry.gaveUp = error ?? null));
      return entry;
    } catch (err) {
      client.close();
      if (!(err instanceof SdkError) || err.code !== 'server_busy' || attempt >= (options.attempts ?? 20))
        throw err;
      await new Promise((r) => setTimeout(r, (err.retryAfterMs ?? 1000) + Math.random() * 1000));
    }
  }
}

/** p-th percentile (0..100) of a list of numbers, nearest rank; NaN for an empty list. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
