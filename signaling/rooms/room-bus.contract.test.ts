/**
 * One contract, every bus: the same membership, resume, takeover, expiry, kick, mailbox and revocation
 * cases run against the in-memory bus, against the Redis bus on a real redis-server (two instances of it,
 * as two signaling instances would hold them), and against the same Redis bus on a real three-primary,
 * three-replica Redis Cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FakeClock } from '../../test-support/sdk-fakes.js';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { startRedisCluster, type RedisClusterServer } from '../../test-support/redis-cluster.js';
import { hasTool } from '../../test-support/tools.js';
import type { Member } from '../protocol/index.js';
import { toFrame, type Frame } from './frame.js';
import { MemoryBus } from './memory-bus.js';
import { RedisBus } from './redis-bus.js';
import type { EvictReason, Revocation, RoomBus, SeatHolder, SessionRecord } from './room-bus.js';

/** Short enough that the Redis bus's real expiry (Redis PX) passes within a test. */
const WINDOW_MS = 400;

interface Harness {
  /** Two views of one bus (the memory bus: the same object twice; Redis: two instances). */
  a: RoomBus;
  b: RoomBus;
  /** Let the resume window pass (a fake clock for memory, real time for Redis). */
  passWindow(): Promise<void>;
  close(): Promise<void>;
}

class Holder implements SeatHolder {
  readonly frames: Frame[] = [];
  readonly evictions: EvictReason[] = [];
  failOn: string | null = null;
  deliver(frame: Frame): void {
    if (this.failOn !== null && frame.json.includes(this.failOn)) throw new Error('cannot deliver');
    this.frames.push(frame);
  }
  evicted(reason: EvictReason): void {
    this.evictions.push(reason);
  }
  types(): string[] {
    return this.frames.map((f) => f.type);
  }
  payloads(): string[] {
    return this.frames.flatMap((f) => {
      const m = JSON.parse(f.json) as { type: string; payload?: string };
      return m.type === 'data' && m.payload !== undefined ? [m.payload] : [];
    });
  }
}

let seq = 0;
function member(user: string): { member: Member; session: (room: string) => SessionRecord } {
  const peerId = `peer-${user}-${++seq}-abcdef`;
  return {
    member: { peerId, userId: user },
    session: (room) => ({ sessionId: `sess-${peerId}-${++seq}-0123456789`, peerId, userId: user, room }),
  };
}
const data = (payload: string) => toFrame({ type: 'data', from: 'someone-0000', payload });

async function seat(bus: RoomBus, room: string, user: string, holder = new Holder()) {
  const m = member(user);
  const session = m.session(room);
  const outcome = await bus.join(room, m.member, 8, session);
  await bus.attach(room, m.member.peerId, session.sessionId, holder);
  return { ...m, session, holder, outcome };
}

function contract(name: string, make: () => Promise<Harness>, skip = false) {
  describe.skipIf(skip)(`room bus contract: ${name}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await make();
    });
    afterAll(async () => {
      await h?.close();
    });
    const newRoom = () => `room-${++seq}`;

    it('answers members in join order, tells the others, and refuses past the cap', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      expect(y.outcome).toEqual({ ok: true, members: [x.member] });
      await expect.poll(() => x.holder.types()).toEqual(['peer-joined']);
      const full = await h.a.join(r, member('z').member, 2, member('z').session(r));
      expect(full).toEqual({ ok: false, reason: 'room_full' });
      expect(await h.b.isMember(r, x.member.peerId)).toBe(true);
    });

    it('a resume re-seats under a new session and evicts the older holder; its later drop and leave change nothing', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const old = await seat(h.a, r, 'old');
      const taken = await h.a.takeSession(old.session.sessionId);
      expect(taken?.peerId).toBe(old.member.peerId);
      // The new connection lands on the other instance while the old socket is still open.
      const fresh = { ...old.session, sessionId: `${old.session.sessionId}-resumed` };
      const holder = new Holder();
      expect((await h.b.join(r, old.member, 8, fresh)).ok).toBe(true);
      await h.b.attach(r, old.member.peerId, fresh.sessionId, holder);
      await expect.poll(() => old.holder.evictions).toEqual(['replaced']);
      // The old socket now drops, then says leave: neither touches the seat.
      await h.a.suspend(r, old.member.peerId, old.session.sessionId);
      expect(await h.a.leave(r, old.member.peerId, 'left', old.session.sessionId)).toBe(false);
      await h.a.sendTo(r, old.member.peerId, data('after-takeover'));
      await expect.poll(() => holder.payloads()).toEqual(['after-takeover']);
      await h.passWindow();
      expect(await h.a.isMember(r, old.member.peerId)).toBe(true);
      expect(x.holder.types().filter((t) => t === 'peer-left')).toEqual([]);
    });

    it('a suspended seat queues frames in order for its resume, and ends with peer-left timeout after the window', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      await h.b.suspend(r, y.member.peerId, y.session.sessionId);
      for (const p of ['1', '2', '3']) await h.a.sendTo(r, y.member.peerId, data(p));
      const record = await h.a.takeSession(y.session.sessionId);
      expect(record).not.toBeNull();
      const again = { ...y.session, sessionId: `${y.session.sessionId}-2` };
      const holder = new Holder();
      await h.a.join(r, y.member, 8, again);
      await h.a.attach(r, y.member.peerId, again.sessionId, holder);
      expect(holder.payloads()).toEqual(['1', '2', '3']);

      const z = await seat(h.a, r, 'z');
      await h.a.suspend(r, z.member.peerId, z.session.sessionId);
      await h.passWindow();
      await expect
        .poll(() =>
          x.holder.frames.filter((f) => f.type === 'peer-left').map((f) => JSON.parse(f.json) as object),
        )
        .toEqual([{ type: 'peer-left', peerId: z.member.peerId, reason: 'timeout' }]);
      expect(await h.b.takeSession(z.session.sessionId)).toBeNull();
    });

    it('a frame its holder cannot take never costs the frames queued behind it', async () => {
      const r = newRoom();
      await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      await h.b.suspend(r, y.member.peerId, y.session.sessionId);
      for (const p of ['before', 'poison', 'offer-after']) await h.a.sendTo(r, y.member.peerId, data(p));
      await h.a.takeSession(y.session.sessionId);
      const again = { ...y.session, sessionId: `${y.session.sessionId}-2` };
      const holder = new Holder();
      holder.failOn = 'poison';
      await h.b.join(r, y.member, 8, again);
      await h.b.attach(r, y.member.peerId, again.sessionId, holder);
      expect(holder.payloads()).toEqual(['before', 'offer-after']);
    });

    it('a kick removes the member, evicts its connection wherever it is, and tells the room', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      expect(await h.a.leave(r, y.member.peerId, 'kicked')).toBe(true);
      await expect.poll(() => y.holder.evictions).toEqual(['kicked']);
      await expect
        .poll(() => x.holder.frames.map((f) => JSON.parse(f.json) as { type: string }).at(-1))
        .toEqual({ type: 'peer-left', peerId: y.member.peerId, reason: 'kicked' });
      expect(await h.a.isMember(r, y.member.peerId)).toBe(false);
      expect(await h.a.leave(r, y.member.peerId, 'kicked')).toBe(false);
    });

    it('a member’s metadata update reaches the others, later listings and its resume; a stale session changes nothing', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      const updated = await h.b.updateMember(r, y.member.peerId, y.session.sessionId, { name: 'Yvonne' });
      expect(updated).toEqual({ ...y.member, meta: { name: 'Yvonne' } });
      await expect
        .poll(() => x.holder.frames.map((f) => JSON.parse(f.json) as { type: string }).at(-1))
        .toEqual({ type: 'member-updated', peer: updated });
      expect(y.holder.types()).not.toContain('member-updated');
      expect((await h.a.members(r)).find((m) => m.member.peerId === y.member.peerId)?.member.meta).toEqual({
        name: 'Yvonne',
      });
      expect(
        await h.a.updateMember(r, y.member.peerId, 'not-the-holder-0123456789', { name: 'x' }),
      ).toBeNull();
      await h.b.suspend(r, y.member.peerId, y.session.sessionId);
      expect((await h.a.takeSession(y.session.sessionId))?.meta).toEqual({ name: 'Yvonne' });
    });

    it('lists rooms and members across instances', async () => {
      const r = newRoom();
      const x = await seat(h.a, r, 'x');
      const y = await seat(h.b, r, 'y');
      expect(await h.a.rooms()).toContain(r);
      const members = await h.a.members(r);
      expect(members.map((m) => m.member.peerId)).toEqual([x.member.peerId, y.member.peerId]);
      expect(members.every((m) => m.node !== '')).toBe(true);
    });

    it('a revocation reaches every instance and is listed until it ends', async () => {
      const heardA: Revocation[] = [];
      const heardB: Revocation[] = [];
      h.a.onRevoked((r) => heardA.push(r));
      if (h.b !== h.a) h.b.onRevoked((r) => heardB.push(r));
      const now = Math.floor(Date.now() / 1000);
      const revocation = {
        userId: 'mallory',
        revokedAt: now,
        credentialsExpiringBy: now + 60,
        until: now + 600,
        by: 'ops',
      };
      await h.a.revoke(revocation);
      await expect.poll(() => heardA).toEqual([revocation]);
      if (h.b !== h.a) await expect.poll(() => heardB).toEqual([revocation]);
      expect(await h.b.revocations()).toContainEqual(revocation);
    });
  });
}

contract('memory', () => {
  const clock = new FakeClock();
  const bus = new MemoryBus({ nodeId: 'm', resumeWindowMs: WINDOW_MS, mailboxSize: 16, clock });
  return Promise.resolve({
    a: bus,
    b: bus,
    passWindow: () => clock.advance(WINDOW_MS + 1),
    close: () => bus.close(),
  });
});

let redis: RedisServer | null = null;
let cluster: RedisClusterServer | null = null;
const redisHarness = async (
  target: { url: string } | { clusterNodes: string[] },
  stop: () => Promise<void>,
): Promise<Harness> => {
  const prefix = `c${Math.random().toString(36).slice(2, 8)}:`;
  const log = pino({ level: 'silent' });
  const make = (nodeId: string) =>
    new RedisBus({
      ...target,
      prefix,
      nodeId,
      resumeWindowMs: WINDOW_MS,
      mailboxSize: 16,
      presenceTtlMs: 300,
      log,
    });
  const a = make('node-a');
  const b = make('node-b');
  await Promise.all([a.start(), b.start()]);
  return {
    a,
    b,
    // Redis expires the grace key on its own clock; the sweeps run every 100 ms.
    passWindow: () => new Promise((r) => setTimeout(r, WINDOW_MS + 400)),
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await stop();
    },
  };
};

contract(
  'redis (two instances)',
  async () => {
    redis = await startRedis();
    return redisHarness({ url: redis!.url }, async () => redis?.stop());
  },
  !hasTool('redis-server'),
);

contract(
  'redis cluster (two instances, three primaries)',
  async () => {
    cluster = await startRedisCluster();
    return redisHarness({ clusterNodes: cluster!.seeds.split(',') }, async () => cluster?.stop());
  },
  !hasTool('redis-server') || !hasTool('redis-cli'),
);
