/**
 * Three signaling instances on a real Redis Cluster (three primaries, three replicas): a room spread over
 * the instances relays signals across them; different rooms live on different primaries, keys and shard
 * channels alike; and when a room's primary is killed (SIGKILL) the cluster promotes its replica by
 * itself (automatic failover, `cluster-node-timeout 1000`), the bus follows without a restart, members keep
 * their seats, and every signal sent after the failover arrives (or, in the moment the bus is following,
 * is answered with an error: none vanishes silently).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterServer } from '../../test-support/redis-cluster.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { TestClient } from '../../test-support/ws-client.js';
import { hasTool } from '../../test-support/tools.js';
import { RedisKeys } from '../rooms/redis-keys.js';

const available = hasTool('redis-server') && hasTool('redis-cli');
let cluster: RedisClusterServer;
let instances: RunningSignaling[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  if (available) cluster = (await startRedisCluster())!;
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(instances.map((i) => i.close()));
  instances = [];
});

async function startInstances(prefix: string) {
  for (let i = 0; i < 3; i++)
    instances.push(
      await startSignaling({
        REDIS_CLUSTER_NODES: cluster.seeds,
        REDIS_PREFIX: prefix,
        NODE_ID: `node-${i}`,
        PRESENCE_TTL_MS: '900',
        RESUME_WINDOW_MS: '15000',
        RATE_LIMIT_PER_S: '1000',
        RATE_LIMIT_BURST: '1000',
      }),
    );
}

async function joinOn(instance: RunningSignaling, user: string, room: string) {
  const c = await TestClient.connect(instance.wsUrl, { token: instance.token(user, [room]) });
  clients.push(c);
  return { c, welcome: await c.join(room) };
}

/** Room names whose keys land on `count` different primaries, with the port of each one's primary. */
async function roomsOnDistinctPrimaries(keys: RedisKeys, count: number) {
  const found = new Map<number, string>();
  for (let i = 0; found.size < count && i < 200; i++) {
    const room = `room-${i}`;
    const primary = await cluster.primaryOf(await cluster.slotOf(keys.seats(room)));
    if (!found.has(primary.port)) found.set(primary.port, room);
  }
  return [...found].map(([port, room]) => ({ port, room }));
}

type Peer = Awaited<ReturnType<typeof joinOn>>;

/** Every peer signals every other with `tag`; answers what arrived and what was refused, per pair. */
function signalAll(peers: Peer[], tag: string) {
  for (const a of peers)
    for (const b of peers)
      if (a !== b)
        a.c.send({
          type: 'signal',
          id: `${tag}:${a.welcome.peerId}>${b.welcome.peerId}`,
          to: b.welcome.peerId,
          signal: { type: 'offer', sdp: `${tag}:${a.welcome.peerId}>${b.welcome.peerId}` },
        });
}
const arrived = (peers: Peer[], tag: string) =>
  peers.flatMap((p) =>
    p.c
      .all('signal')
      .map((s) => (s.signal as { sdp?: string }).sdp ?? '')
      .filter((sdp) => sdp.startsWith(`${tag}:`)),
  );
const refused = (peers: Peer[], tag: string) =>
  peers.flatMap((p) =>
    p.c
      .all('error')
      .map((e) => String(e.replyTo ?? ''))
      .filter((id) => id.startsWith(`${tag}:`)),
  );

describe.skipIf(!available)('Redis Cluster bus across instances', () => {
  it('a room spread over three instances relays signals; different rooms sit on different primaries, keys and channels', async () => {
    const prefix = `spread${Math.random().toString(36).slice(2, 6)}:`;
    const keys = new RedisKeys(prefix);
    await startInstances(prefix);
    const rooms = await roomsOnDistinctPrimaries(keys, 3);
    expect(rooms.length).toBe(3);
    for (const { room, port } of rooms) {
      const peers: Peer[] = [];
      for (let i = 0; i < 3; i++) peers.push(await joinOn(instances[i]!, `u${i}`, room));
      // Whatever else reaches an instance's channel is validated and dropped, and costs nothing else.
      for (const junk of [
        'not json',
        '{"kind":"deliver","room":"x","to":[],"frame":"?"}',
        '{"kind":"evict"}',
      ])
        await cluster.cli(port, 'SPUBLISH', keys.channel(room, 'node-1'), junk);
      signalAll(peers, room);
      await expect.poll(() => arrived(peers, room).length, { timeout: 5000 }).toBe(6);
      // The room's state is on its primary (a plain, non-redirected EXISTS there finds it), and so is
      // each instance's channel of the room: one subscriber per instance, on that primary.
      expect((await cluster.cli(port, 'EXISTS', keys.seats(room))).trim()).toBe('1');
      expect((await cluster.cli(port, 'EXISTS', keys.nodes(room))).trim()).toBe('1');
      const channels = [0, 1, 2].map((i) => keys.channel(room, `node-${i}`));
      const counts = (await cluster.cli(port, 'PUBSUB', 'SHARDNUMSUB', ...channels)).trim().split('\n');
      expect(counts.filter((_, i) => i % 2 === 1)).toEqual(['1', '1', '1']);
    }
    expect(new Set(rooms.map((r) => r.port)).size).toBe(3);
    // Leaving the room unsubscribes the instance from its channel there.
    const [first] = rooms;
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await expect
      .poll(async () =>
        (await cluster.cli(first!.port, 'PUBSUB', 'SHARDNUMSUB', keys.channel(first!.room, 'node-0'))).trim(),
      )
      .toMatch(/\n0$/);
  });

  it('SIGKILL of the room’s primary: the replica is promoted, seats stay, and every signal sent after the failover arrives', async () => {
    const prefix = `fail${Math.random().toString(36).slice(2, 6)}:`;
    const keys = new RedisKeys(prefix);
    await startInstances(prefix);
    const [{ room, port }] = (await roomsOnDistinctPrimaries(keys, 1)) as [{ room: string; port: number }];
    const peers: Peer[] = [];
    for (let i = 0; i < 3; i++) peers.push(await joinOn(instances[i]!, `u${i}`, room));
    signalAll(peers, 'before');
    await expect.poll(() => arrived(peers, 'before').length, { timeout: 5000 }).toBe(6);

    const slot = await cluster.slotOf(keys.seats(room));
    const killedAt = Date.now();
    await cluster.kill(port);
    // Automatic failover: the replica notices after cluster-node-timeout and is elected.
    await expect
      .poll(async () => (await cluster.primaryOf(slot).catch(() => ({ port }))).port, { timeout: 20_000 })
      .not.toBe(port);
    await cluster.waitOk(20_000);
    const failoverMs = Date.now() - killedAt;

    // From here on, rounds of signals between every pair: each one either arrives or is refused with an
    // error while the bus is still following; once a round goes through whole, all later ones must too.
    let clean = -1;
    for (let round = 0; round < 40; round++) {
      const tag = `r${round}`;
      signalAll(peers, tag);
      await expect
        .poll(() => arrived(peers, tag).length + refused(peers, tag).length, { timeout: 5000 })
        .toBe(6);
      if (refused(peers, tag).length === 0 && clean < 0) clean = round;
      if (clean >= 0 && round >= clean + 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(clean).toBeGreaterThanOrEqual(0);
    for (let round = clean; round <= clean + 3; round++) expect(refused(peers, `r${round}`)).toEqual([]);
    // Nobody lost a seat: no peer-left, sockets open, and a newcomer sees all three.
    for (const p of peers) {
      expect(p.c.all('peer-left')).toEqual([]);
      expect(p.c.ws.readyState).toBe(p.c.ws.OPEN);
    }
    const late = await joinOn(instances[0]!, 'late', room);
    expect(late.welcome.members.map((m) => m.peerId).sort()).toEqual(
      peers.map((p) => p.welcome.peerId).sort(),
    );
    process.stderr.write(
      `redis cluster failover: promoted after ${failoverMs} ms; bus clean from round ${clean}\n`,
    );
  }, 60_000);
});
