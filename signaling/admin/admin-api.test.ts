/**
 * The admin API across two signaling instances on one real redis-server: an operator on instance 0 lists,
 * kicks, closes and revokes, and the connections it names are closed on whichever instance holds them.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { hasTool } from '../../test-support/tools.js';
import { TestClient, UpgradeRefused } from '../../test-support/ws-client.js';
import { ERROR_CODES } from '../protocol/index.js';

const available = hasTool('redis-server');
let redis: RedisServer;
let prefix = '';
const instances: RunningSignaling[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  if (available) redis = (await startRedis())!;
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(instances.splice(0).map((i) => i.close()));
});

async function instance(n: number) {
  const s = await startSignaling({
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    NODE_ID: `node-${n}`,
    PRESENCE_TTL_MS: '600',
    ...(n === 0 ? { ADMIN_PORT: '0' } : {}),
  });
  instances.push(s);
  return s;
}
async function cluster() {
  prefix = `a${Math.random().toString(36).slice(2, 8)}:`;
  return [await instance(0), await instance(1)] as const;
}
async function joinOn(s: RunningSignaling, user: string, room = 'r') {
  const c = await TestClient.connect(s.wsUrl, { token: s.token(user, [room]) });
  clients.push(c);
  return { c, welcome: await c.join(room) };
}
function admin(s: RunningSignaling, path: string, init: RequestInit & { token?: string | null } = {}) {
  const token = init.token === undefined ? s.token('ops-alice', [], { claims: { admin: true } }) : init.token;
  return fetch(`${s.adminUrl!}${path}`, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
  });
}

describe.skipIf(!available)('admin API across instances', () => {
  it('needs an admin token on its own port, and is not on the public one', async () => {
    const [s] = await cluster();
    expect((await admin(s, '/admin/v1/rooms', { token: null })).status).toBe(401);
    const client = await admin(s, '/admin/v1/rooms', { token: s.token('alice', ['r']) });
    expect(client.status).toBe(403);
    expect(await client.json()).toMatchObject({ code: 'forbidden' });
    expect((await admin(s, '/admin/v1/rooms')).status).toBe(200);
    expect((await fetch(`${s.httpUrl}/admin/v1/rooms`)).status).toBe(404);
    expect((await admin(s, '/admin/v1/rooms/bad%20room')).status).toBe(400);
  });

  it('lists rooms and members on both instances, and kicks a peer held by the other instance', async () => {
    const [s0, s1] = await cluster();
    const a = await joinOn(s0, 'alice');
    const b = await joinOn(s1, 'bob');
    const rooms = (await (await admin(s0, '/admin/v1/rooms')).json()) as { rooms: unknown[] };
    expect(rooms.rooms).toContainEqual({ room: 'r', members: 2 });
    const listed = (await (await admin(s0, '/admin/v1/rooms/r')).json()) as {
      members: Array<{ peerId: string; node: string }>;
    };
    expect(listed.members.map((m) => [m.peerId, m.node])).toEqual([
      [a.welcome.peerId, 'node-0'],
      [b.welcome.peerId, 'node-1'],
    ]);
    const kick = await admin(s0, '/admin/v1/rooms/r/kick', {
      method: 'POST',
      body: JSON.stringify({ peerId: b.welcome.peerId }),
    });
    expect(await kick.json()).toEqual({ kicked: true });
    expect(await b.c.closed).toEqual({ code: ERROR_CODES.kicked.close, reason: 'kicked' });
    expect(await a.c.next('peer-left')).toMatchObject({ peerId: b.welcome.peerId, reason: 'kicked' });
    const bad = await admin(s0, '/admin/v1/rooms/r/kick', { method: 'POST', body: '{"peer":1}' });
    expect(bad.status).toBe(400);
  });

  it('closes a room: every member on every instance is removed', async () => {
    const [s0, s1] = await cluster();
    const peers = [await joinOn(s0, 'u0'), await joinOn(s1, 'u1'), await joinOn(s1, 'u2')];
    const closed = await admin(s0, '/admin/v1/rooms/r', { method: 'DELETE' });
    expect(await closed.json()).toEqual({ closed: 3 });
    for (const p of peers) expect((await p.c.closed).code).toBe(ERROR_CODES.kicked.close);
    expect(await (await admin(s0, '/admin/v1/rooms/r')).json()).toEqual({ room: 'r', members: [] });
  });

  it('revokes a user: sockets closed on both instances, older tokens refused everywhere (also by an instance started later), newer ones accepted', async () => {
    const [s0, s1] = await cluster();
    const witness = await joinOn(s0, 'alice');
    const m0 = await joinOn(s0, 'mallory');
    const m1 = await joinOn(s1, 'mallory', 'other');
    const oldToken = s1.token('mallory', ['r']);
    const res = await admin(s0, '/admin/v1/users/mallory/revoke', { method: 'POST' });
    const { revocation } = (await res.json()) as { revocation: { revokedAt: number; by: string } };
    expect(revocation.by).toBe('ops-alice');
    for (const m of [m0, m1])
      expect(await m.c.closed).toEqual({ code: ERROR_CODES.revoked.close, reason: 'revoked' });
    expect(await witness.c.next('peer-left')).toMatchObject({ peerId: m0.welcome.peerId, reason: 'kicked' });
    const later = await instance(2);
    for (const s of [s0, s1, later]) {
      const refused = await TestClient.connect(s.wsUrl, { token: oldToken }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(UpgradeRefused);
      expect(JSON.parse((refused as UpgradeRefused).body)).toEqual({
        code: 'unauthorized',
        message: 'token revoked',
      });
    }
    const creds = await fetch(`${s1.httpUrl}/v1/turn-credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${oldToken}` },
    });
    expect(creds.status).toBe(401);
    const fresh = s1.token('mallory', ['r'], { issuedAt: revocation.revokedAt + 1 });
    const back = await TestClient.connect(s1.wsUrl, { token: fresh });
    clients.push(back);
    expect((await back.join('r')).peerId).toBeTruthy();
    // A revoked token cannot extend a connection opened with a fresh one either; the connection stays.
    back.send({ type: 'refresh-token', id: 'old', token: oldToken });
    expect(await back.next('error')).toMatchObject({ code: 'unauthorized', replyTo: 'old' });
    back.send({
      type: 'refresh-token',
      id: 'new',
      token: s1.token('mallory', ['r'], { issuedAt: revocation.revokedAt + 1, ttlSec: 900 }),
    });
    expect(await back.next('token-refreshed')).toMatchObject({ replyTo: 'new' });
  });
});
