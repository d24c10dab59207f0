/**
 * SDK peers (real WebRTC, @roamhq/wrtc) on several signaling instances sharing one redis-server: a mesh
 * spread over three instances connects every pair, and draining an instance behind nginx neither drops a
 * peer-to-peer link nor loses a message, while its clients resume elsewhere with the same peer ids.
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { startNginx, type RunningNginx } from '../../test-support/nginx.js';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { joinRoom, p2pTo, useGenerousPolls, type TestRoom } from '../../test-support/sdk-rooms.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { hasTool } from '../../test-support/tools.js';

const available = hasTool('redis-server') && hasTool('nginx');
useGenerousPolls();
let redis: RedisServer;
let instances: RunningSignaling[] = [];
let nginx: RunningNginx | null = null;
const rooms: TestRoom[] = [];

beforeAll(async () => {
  if (available) redis = (await startRedis())!;
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await nginx?.stop();
  nginx = null;
  await Promise.all(instances.map((i) => i.close()));
  instances = [];
});

async function cluster(n: number, prefix: string) {
  for (let i = 0; i < n; i++) {
    instances.push(
      await startSignaling({
        REDIS_URL: redis.url,
        REDIS_PREFIX: `${prefix}:`,
        NODE_ID: `${prefix}-${i}`,
        TRUST_PROXY: 'true',
      }),
    );
  }
}

describe.skipIf(!available)('SDK peers across instances', () => {
  it('six peers on three instances: every pair connects peer to peer and exchanges data', async () => {
    await cluster(3, 'mesh6');
    for (let i = 0; i < 6; i++) rooms.push(await joinRoom(instances[i % 3]!, `u${i}`, 'call'));
    const ids = rooms.map((r) => r.room.peerId);
    for (const r of rooms) {
      await expect.poll(() => r.room.peers().length).toBe(5);
      await Promise.all(ids.filter((id) => id !== r.room.peerId).map((id) => p2pTo(r.room, id)));
    }
    for (const r of rooms) r.room.send(`from-${r.user}`, { channel: 'hello' });
    for (const r of rooms) {
      for (const o of rooms)
        if (o !== r)
          await expect.poll(() => r.reliableFrom(o.room.peerId, 'hello')).toEqual([`from-${o.user}`]);
      expect(r.errors).toEqual([]);
    }
  }, 120_000);

  it('draining an instance behind nginx: links stay up, no message lost, clients resume with the same ids', async () => {
    await cluster(2, 'drain');
    nginx = await startNginx(instances.map((i) => i.server.address().port));
    const viaNginx = { ...instances[0]!, wsUrl: `ws://127.0.0.1:${nginx!.port}/v1/ws` };
    const a = await joinRoom(viaNginx, 'alice', 'call');
    const b = await joinRoom(viaNginx, 'bob', 'call');
    rooms.push(a, b);
    await p2pTo(a.room, b.room.peerId);
    await p2pTo(b.room, a.room.peerId);
    // least_conn put them on different instances; drain the first, whoever is on it.
    expect(instances.map((i) => i.server.connectionCount)).toEqual([1, 1]);
    const ids = new Map([a, b].map((r) => [r, r.room.peerId]));
    const links: string[] = [];
    const resumed: Array<{ kind: string; peerId: string }> = [];
    for (const r of [a, b]) {
      r.room.on('link', (e) => links.push(e.kind));
      r.room.on('resumed', (e) => resumed.push(e));
    }
    let sent = 0;
    const pump = setInterval(() => {
      a.room.send(String(sent), { channel: 'seq' });
      b.room.send(String(sent), { channel: 'seq' });
      sent++;
    }, 20);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await instances[0]!.server.drain(3000);
      await expect.poll(() => resumed.length).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      clearInterval(pump);
    }
    const moved = [a, b].find((r) => r.room.peerId === resumed[0]!.peerId)!;
    expect(resumed[0]).toMatchObject({ kind: 'resumed', peerId: ids.get(moved) });
    expect(instances[1]!.server.connectionCount).toBe(2);
    expect([a.room.peerId, b.room.peerId]).toEqual([ids.get(a), ids.get(b)]);
    expect(links).toEqual([]); // no link was replaced
    const expected = [...Array(sent).keys()].map(String);
    await expect.poll(() => b.reliableFrom(ids.get(a)!, 'seq')).toEqual(expected);
    await expect.poll(() => a.reliableFrom(ids.get(b)!, 'seq')).toEqual(expected);
    expect(a.room.peer(ids.get(b)!)?.path).toBe('direct');
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 120_000);
});
