/**
 * Admission control at the upgrade, over real sockets with the server's clock injected: exactly the burst
 * is taken, the next upgrade gets 503 `server_busy` with Retry-After before its token is even looked at,
 * and time (not sleep) refills it. The SDK in Node reads the Retry-After.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SignalingClient } from '../sdk/signaling/signaling-client.js';
import { nodePlatform } from '../sdk/platform/node.js';
import { ExponentialBackoffPolicy } from '../sdk/signaling/reconnect-policy.js';
import type { SdkError } from '../sdk/errors.js';
import { closeAfterEach } from '../test-support/cleanup.js';
import { FakeClock } from '../test-support/sdk-fakes.js';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { TestClient, UpgradeRefused } from '../test-support/ws-client.js';

const defer = closeAfterEach();
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function start(clock: FakeClock): Promise<RunningSignaling> {
  const sig = await startSignaling(
    { ADMISSION_RATE_PER_S: '1', ADMISSION_BURST: '3', ADMISSION_MAX_RETRY_AFTER_S: '5' },
    { clock },
  );
  return defer(sig, (s) => s.close());
}

async function open(
  sig: RunningSignaling,
  user: string,
  token = sig.token(user, ['r']),
): Promise<TestClient> {
  const c = await TestClient.connect(sig.wsUrl, { token });
  clients.push(c);
  return c;
}

async function refusal(promise: Promise<unknown>): Promise<UpgradeRefused> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpgradeRefused);
  return err as UpgradeRefused;
}

describe('admission control at the upgrade', () => {
  it('takes exactly the burst, refuses the next with 503 server_busy and Retry-After, refills on the clock', async () => {
    const clock = new FakeClock();
    const sig = await start(clock);
    for (const user of ['a', 'b', 'c']) expect((await (await open(sig, user)).join('r')).peerId).toBeTruthy();

    const busy = await refusal(open(sig, 'd'));
    expect(busy.status).toBe(503);
    expect(JSON.parse(busy.body)).toMatchObject({ code: 'server_busy' });
    const retryAfter = Number(busy.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 5).toBe(true);
    // Refused before the token is verified: a forged token gets the same 503, not 401.
    expect((await refusal(open(sig, 'e', 'not-a-jwt'))).status).toBe(503);
    // Cheap checks still come first and spend nothing: a wrong path is 404 whatever the bucket holds.
    expect((await refusal(TestClient.connect(sig.wsUrl.replace('/v1/ws', '/nope')))).status).toBe(404);

    await clock.advance(999); // 1/s: not yet a whole token
    expect((await refusal(open(sig, 'd'))).status).toBe(503);
    await clock.advance(1);
    expect((await (await open(sig, 'd')).join('r')).peerId).toBeTruthy();
    expect((await refusal(open(sig, 'f'))).status).toBe(503);

    const metrics = await (await fetch(`${sig.httpUrl}/metrics`)).text();
    expect(metrics).toContain('signaling_admissions_total{result="admitted"} 4');
    expect(metrics).toContain('signaling_admissions_total{result="refused"} 4');
    expect(metrics).toMatch(/signaling_auth_failures_total\{status="503",reason="server_busy"\} 4/);
  });

  it("the SDK in Node reads the refusal's Retry-After (server_busy with retryAfterMs)", async () => {
    const clock = new FakeClock();
    const sig = await start(clock);
    for (const user of ['a', 'b', 'c']) await open(sig, user);
    const client = new SignalingClient({
      url: sig.wsUrl,
      token: sig.token('sdk', ['r']),
      getToken: undefined,
      room: 'r',
      meta: {},
      platform: nodePlatform(),
      clock: {
        now: () => Date.now(),
        setTimeout: (fn, ms) => setTimeout(fn, ms),
        clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
      },
      policy: new ExponentialBackoffPolicy(),
      connectTimeoutMs: 5000,
      pingIntervalMs: 10_000,
      pongTimeoutMs: 10_000,
    });
    defer(client, (c) => c.close());
    const err = (await client.start().then(
      () => null,
      (e: unknown) => e,
    )) as SdkError;
    expect(err).toMatchObject({ code: 'server_busy' });
    expect(err.retryAfterMs! % 1000).toBe(0);
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(err.retryAfterMs).toBeLessThanOrEqual(5000);
  });
});
