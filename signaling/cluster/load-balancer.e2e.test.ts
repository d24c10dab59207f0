/**
 * Real nginx (infra/nginx/signaling.conf) in front of two instances on one Redis: a drained instance's
 * clients reconnect through the load balancer, land on the other instance, and resume their sessions;
 * the rest of the room sees no peer-left. No stickiness is configured.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type RunningNginx } from '../../test-support/nginx.js';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { hasTool } from '../../test-support/tools.js';
import { TestClient } from '../../test-support/ws-client.js';

const available = hasTool('redis-server') && hasTool('nginx');
let redis: RedisServer;
let nginx: RunningNginx;
let a: RunningSignaling;
let b: RunningSignaling;

beforeAll(async () => {
  if (!available) return;
  redis = (await startRedis())!;
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'lb:', TRUST_PROXY: 'true', PRESENCE_TTL_MS: '900' };
  a = await startSignaling({ ...env, NODE_ID: 'a' });
  b = await startSignaling({ ...env, NODE_ID: 'b' });
  nginx = (await startNginx([a.server.address().port, b.server.address().port]))!;
});
afterAll(async () => {
  await nginx?.stop();
  await a?.close();
  await b?.close();
  await redis?.stop();
});

describe.skipIf(!available)('behind nginx', () => {
  it('never forwards /metrics, even from an instance that serves it on its public port', async () => {
    expect((await fetch(`${a.httpUrl}/metrics`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${nginx.port}/metrics`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${nginx.port}/healthz`)).status).toBe(200);
  });

  it('drains one instance: its clients come back through nginx on the other and resume with the same ids', async () => {
    const url = `ws://127.0.0.1:${nginx.port}/v1/ws`;
    const clients = [];
    for (let i = 0; i < 4; i++) {
      const c = await TestClient.connect(url, { token: a.token(`u${i}`, ['room']) });
      clients.push({ c, welcome: await c.join('room'), user: `u${i}` });
    }
    // least_conn spreads them over both instances.
    expect(a.server.connectionCount).toBeGreaterThan(0);
    expect(b.server.connectionCount).toBeGreaterThan(0);
    const onA = a.server.connectionCount;

    await a.server.drain(3000);
    const resumed = await Promise.all(
      clients.map(async (entry) => {
        if (entry.c.ws.readyState !== entry.c.ws.CLOSED) return { entry, again: null };
        expect((await entry.c.closed).code).toBe(1012);
        expect(entry.c.all('reconnect')).toEqual([{ type: 'reconnect', reason: 'draining', afterMs: 0 }]);
        const again = await TestClient.connect(url, { token: b.token(entry.user, ['room']) });
        const w = await again.join('room', {
          resume: { sessionId: entry.welcome.sessionId, peerId: entry.welcome.peerId },
        });
        return { entry, again, w };
      }),
    );
    const moved = resumed.filter((r) => r.again);
    expect(moved).toHaveLength(onA);
    for (const r of moved) {
      expect(r.w).toMatchObject({ peerId: r.entry.welcome.peerId, resumed: true });
    }
    expect(b.server.connectionCount).toBe(4);
    // The ones that stayed heard no peer-left, and everyone still reaches everyone.
    const live = resumed.map((r) => r.again ?? r.entry.c);
    for (const c of live) expect(c.all('peer-left')).toEqual([]);
    const ids = clients.map((x) => x.welcome.peerId);
    live[0]!.send({ type: 'signal', to: ids[3]!, signal: { type: 'offer', sdp: 'after-drain' } });
    expect((await live[3]!.next('signal', 5000)).signal).toEqual({ type: 'offer', sdp: 'after-drain' });
    await Promise.all(live.map((c) => c.close()));
  });
});
