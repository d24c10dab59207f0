/** Three signaling instances on one real redis-server serve one room as if they were one. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { TestClient } from '../../test-support/ws-client.js';
import { hasTool } from '../../test-support/tools.js';
import { ERROR_CODES } from '../protocol/index.js';

const available = hasTool('redis-server');
let redis: RedisServer;
let instances: RunningSignaling[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  if (available) redis = (await startRedis())!;
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(instances.map((i) => i.close()));
  instances = [];
});

async function cluster(n: number, env: Record<string, string> = {}) {
  const prefix = `t${Math.random().toString(36).slice(2, 8)}:`;
  for (let i = 0; i < n; i++) {
    instances.push(
      await startSignaling({
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        NODE_ID: `node-${i}`,
        PRESENCE_TTL_MS: '600',
        ...env,
      }),
    );
  }
}
async function joinOn(instance: RunningSignaling, user: string, room = 'r') {
  const c = await TestClient.connect(instance.wsUrl, { token: instance.token(user, [room]) });
  clients.push(c);
  return { c, welcome: await c.join(room) };
}

describe.skipIf(!available)('Redis bus across instances', () => {
  it('six peers on three instances: everyone sees everyone, and every pair exchanges signals', async () => {
    await cluster(3);
    const peers = [];
    for (let i = 0; i < 6; i++) peers.push(await joinOn(instances[i % 3]!, `u${i}`));
    // Each newcomer's welcome lists exactly those before it, in join order.
    for (const [i, p] of peers.entries()) {
      expect(p.welcome.members.map((m) => m.peerId)).toEqual(peers.slice(0, i).map((q) => q.welcome.peerId));
    }
    for (const [i, p] of peers.entries()) {
      await expect.poll(() => p.c.all('peer-joined').length, { timeout: 5000 }).toBe(5 - i);
    }
    for (const a of peers)
      for (const b of peers)
        if (a !== b)
          a.c.send({
            type: 'signal',
            to: b.welcome.peerId,
            signal: { type: 'offer', sdp: `${a.welcome.peerId}>${b.welcome.peerId}` },
          });
    for (const b of peers) {
      await expect.poll(() => b.c.all('signal').length, { timeout: 5000 }).toBe(5);
      for (const s of b.c.all('signal'))
        expect(s.signal).toEqual({ type: 'offer', sdp: `${s.from}>${b.welcome.peerId}` });
    }
  });

  it('keeps the order of messages between two peers on different instances, and answers not_in_room across them', async () => {
    await cluster(2, { RATE_LIMIT_PER_S: '10000', RATE_LIMIT_BURST: '10000' });
    const a = await joinOn(instances[0]!, 'a');
    const b = await joinOn(instances[1]!, 'b');
    for (let i = 0; i < 300; i++) a.c.send({ type: 'data', to: b.welcome.peerId, payload: String(i) });
    await expect.poll(() => b.c.all('data').length, { timeout: 10_000 }).toBe(300);
    expect(b.c.all('data').map((d) => Number(d.payload))).toEqual([...Array(300).keys()]);
    const other = await joinOn(instances[1]!, 'c', 'elsewhere');
    a.c.send({ type: 'signal', id: 9, to: other.welcome.peerId, signal: { type: 'offer', sdp: 'x' } });
    expect(await a.c.next('error')).toMatchObject({ code: 'not_in_room', replyTo: 9 });
    await b.c.close();
    expect(await a.c.next('peer-left')).toMatchObject({ peerId: b.welcome.peerId, reason: 'left' });
  });

  it('resumes a dropped peer on another instance with the same id and the signals sent meanwhile', async () => {
    await cluster(2, { RESUME_WINDOW_MS: '5000' });
    const a = await joinOn(instances[0]!, 'a');
    const b = await joinOn(instances[1]!, 'b');
    b.c.ws.terminate();
    await b.c.closed;
    await new Promise((r) => setTimeout(r, 100));
    a.c.send({ type: 'signal', to: b.welcome.peerId, signal: { type: 'offer', sdp: 'while-away' } });
    const again = await TestClient.connect(instances[0]!.wsUrl, { token: instances[0]!.token('b', ['r']) });
    clients.push(again);
    const w = await again.join('r', { resume: { sessionId: b.welcome.sessionId, peerId: b.welcome.peerId } });
    expect(w).toMatchObject({ peerId: b.welcome.peerId, resumed: true });
    expect((await again.next('signal')).signal).toEqual({ type: 'offer', sdp: 'while-away' });
    a.c.send({ type: 'signal', to: b.welcome.peerId, signal: { type: 'answer', sdp: 'after' } });
    expect((await again.next('signal')).signal).toEqual({ type: 'answer', sdp: 'after' });
    await new Promise((r) => setTimeout(r, 1500)); // several presence sweeps
    expect(a.c.all('peer-left')).toEqual([]);
  });

  it('a resume on another instance while the old socket is still open: the old one is closed session_replaced and signals reach the new one', async () => {
    await cluster(2, { RESUME_WINDOW_MS: '1500' });
    const a = await joinOn(instances[0]!, 'a');
    const old = await joinOn(instances[0]!, 'b');
    const fresh = await TestClient.connect(instances[1]!.wsUrl, { token: instances[1]!.token('b', ['r']) });
    clients.push(fresh);
    const w = await fresh.join('r', {
      resume: { sessionId: old.welcome.sessionId, peerId: old.welcome.peerId },
    });
    expect(w).toMatchObject({ peerId: old.welcome.peerId, resumed: true });
    expect(await old.c.closed).toEqual({
      code: ERROR_CODES.session_replaced.close,
      reason: 'session_replaced',
    });
    a.c.send({ type: 'signal', to: old.welcome.peerId, signal: { type: 'offer', sdp: 'to-the-new-one' } });
    expect((await fresh.next('signal')).signal).toEqual({ type: 'offer', sdp: 'to-the-new-one' });
    await new Promise((r) => setTimeout(r, 2000)); // past the resume window, several sweeps
    expect(a.c.all('peer-left')).toEqual([]);
    a.c.send({ type: 'signal', to: old.welcome.peerId, signal: { type: 'answer', sdp: 'still' } });
    expect((await fresh.next('signal')).signal).toEqual({ type: 'answer', sdp: 'still' });
  });

  it('survives a Redis restart: not ready while it is away, then a new peer joins and reaches everyone', async () => {
    await cluster(2);
    const a = await joinOn(instances[0]!, 'a');
    const b = await joinOn(instances[1]!, 'b');
    await expect.poll(() => a.c.all('peer-joined').length, { timeout: 5000 }).toBe(1);
    await redis.stop();
    await expect
      .poll(async () => (await fetch(`${instances[0]!.httpUrl}/readyz`)).status, { timeout: 5000 })
      .toBe(503);
    a.c.send({ type: 'signal', id: 'down', to: b.welcome.peerId, signal: { type: 'offer', sdp: 'x' } });
    expect(await a.c.next('error')).toMatchObject({ code: 'internal', replyTo: 'down' });
    await redis.restart();
    for (const i of instances)
      await expect
        .poll(async () => (await fetch(`${i.httpUrl}/readyz`)).status, { timeout: 10_000 })
        .toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // presence re-asserted on 'ready'
    const c = await joinOn(instances[1]!, 'c');
    expect(c.welcome.members.map((m) => m.peerId).sort()).toEqual(
      [a.welcome.peerId, b.welcome.peerId].sort(),
    );
    c.c.send({ type: 'signal', to: a.welcome.peerId, signal: { type: 'offer', sdp: 'c>a' } });
    c.c.send({ type: 'signal', to: b.welcome.peerId, signal: { type: 'offer', sdp: 'c>b' } });
    expect((await a.c.next('signal', 5000)).signal).toEqual({ type: 'offer', sdp: 'c>a' });
    expect((await b.c.next('signal', 5000)).signal).toEqual({ type: 'offer', sdp: 'c>b' });
    expect(a.c.ws.readyState).toBe(a.c.ws.OPEN);
  });
});
