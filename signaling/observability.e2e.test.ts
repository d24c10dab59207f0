/**
 * What operators scrape, from a real server: /metrics on the metrics listener in production (and nowhere on
 * the public port), the signal relay and accept histograms, and the SDK's call-setup telemetry through
 * POST /v1/telemetry: real SDK peers on loopback report their path, bad and excess reports are refused.
 */
import { describe, expect, it } from 'vitest';
import { reportCallSetup } from '../sdk/index.js';
import { closeAfterEach } from '../test-support/cleanup.js';
import { joinRoom, p2pTo, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { startSignaling, TEST_TURN_SECRET } from '../test-support/signaling.js';

const defer = closeAfterEach();
useGenerousPolls();

const scrape = async (url: string) => (await fetch(url)).text();

describe('observability', () => {
  it('in production /metrics is on the metrics listener only, and the histograms fill from real traffic', async () => {
    const sig = defer(
      await startSignaling({
        NODE_ENV: 'production',
        TURN_SECRETS: `${TEST_TURN_SECRET}-production`,
        METRICS_PORT: '0',
        ALLOWED_ORIGINS: 'https://app.example.com',
      }),
      (s) => s.close(),
    );
    const admin = `http://127.0.0.1:${sig.server.metricsAddress()!.port}`;
    expect((await fetch(`${sig.httpUrl}/metrics`)).status).toBe(404);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    const a = defer(await joinRoom(sig, 'alice', 'obs'), (t) => t.room.close());
    const b = defer(await joinRoom(sig, 'bob', 'obs'), (t) => t.room.close());
    await p2pTo(a.room, b.room.peerId);
    const text = await scrape(`${admin}/metrics`);
    expect(text).toMatch(/^signaling_accept_seconds_count 2$/m);
    // Offers, answers and candidates went through the server and were timed.
    expect(Number(/^signaling_signal_relay_seconds_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(1);
    expect(text).not.toMatch(/node="/);
  });

  it('takes call-setup reports from the SDK by path and known region, and refuses bad or excess ones', async () => {
    const sig = defer(await startSignaling({ TURN_EMBEDDED_REGION: 'eu' }), (s) => s.close());
    const a = defer(await joinRoom(sig, 'alice', 'tel'), (t) => t.room.close());
    const stop = reportCallSetup(a.room, {
      baseUrl: sig.httpUrl,
      token: () => sig.token('alice', ['tel']),
      region: 'eu',
    });
    defer(stop, (s) => s());
    const b = defer(await joinRoom(sig, 'bob', 'tel'), (t) => t.room.close());
    // Bob turns telemetry on after joining: Alice came in his welcome, before connect() resolved.
    defer(
      reportCallSetup(b.room, { baseUrl: sig.httpUrl, token: () => sig.token('bob', ['tel']), region: 'eu' }),
      (s) => s(),
    );
    await p2pTo(a.room, b.room.peerId);
    await expect
      .poll(() => scrape(`${sig.httpUrl}/metrics`))
      .toMatch(/^signaling_client_call_setup_seconds_count\{path="direct",region="eu"\} 2$/m);

    const post = (body: unknown, token = sig.token('carol', ['tel'])) =>
      fetch(`${sig.httpUrl}/v1/telemetry`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const report = { kind: 'call-setup', setupMs: 900, path: 'relay', region: 'mars' };
    expect((await post(report, 'not-a-token')).status).toBe(401);
    expect((await post({ ...report, setupMs: -1 })).status).toBe(400);
    expect((await post({ ...report, sdp: 'v=0' })).status).toBe(400);
    expect((await post({ ...report, padding: 'x'.repeat(4000) })).status).toBe(400);
    // An unknown region is counted as `other`, so clients cannot grow the series.
    expect((await post(report)).status).toBe(202);
    expect(await scrape(`${sig.httpUrl}/metrics`)).toMatch(
      /^signaling_client_call_setup_seconds_count\{path="relay",region="other"\} 1$/m,
    );
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await post(report)).status);
    expect(statuses).toContain(429);
  });
});
