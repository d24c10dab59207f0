/**
 * The room bus on Redis, for N signaling instances behind a load balancer, on one Redis or on a Redis
 * Cluster with the same code (`redis-connection.ts`). Redis holds membership, sessions, mailboxes and
 * revocations; sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7) only moves frames and evictions to the
 * instance that holds the target's socket, and revocations to every instance.
 *
 * Key layout: `redis-keys.ts`. A room's keys and its channels share one hash slot, so every script runs on
 * one primary and rooms spread over the primaries of a cluster, and so does their delivery load: an
 * instance subscribes to its own channel of a room (`{r<room>}:n:<node>`) while it holds members there,
 * and a frame for a remote member is one script on the room's primary, which publishes on that channel.
 * Delivery order between two peers is kept: one connection's messages are handled in order, and go to one
 * primary (the room's) over one connection, on one channel.
 */
import type { Logger } from 'pino';
import type { Member } from '../protocol/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import {
  deliverHead,
  nodeMessageSchema,
  packFrame,
  parseWith,
  revocationSchema,
  unpackFrame,
  type NodeMessage,
} from './bus-messages.js';
import type { Frame } from './frame.js';
import { connectBusRedis, type BusRedis, type RedisTarget } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { LocalSeats, type LocalSeat, type Seat } from './redis-local-seats.js';
import { Presence } from './redis-presence.js';
import {
  ENQUEUE_SCRIPT,
  JOIN_SCRIPT,
  LEAVE_SCRIPT,
  REVOKE_SCRIPT,
  ROUTE_SCRIPT,
  SUSPEND_SCRIPT,
  TAKE_MAILBOX_SCRIPT,
  UPDATE_SCRIPT,
} from './redis-scripts.js';
import {
  deliverSafely,
  memberUpdatedFrame,
  peerJoinedFrame,
  peerLeftFrame,
  type BusOptions,
  type EvictReason,
  type JoinOutcome,
  type LeaveReason,
  type Revocation,
  type RoomBus,
  type SeatHolder,
  type SeatInfo,
  type SessionRecord,
} from './room-bus.js';

export interface RedisBusOptions extends BusOptions {
  /** A single Redis (`redis://host:port`). Exactly one of `url` and `clusterNodes`. */
  url?: string;
  /** Seed nodes of a Redis Cluster (`host:port` or URLs); the client discovers the rest. */
  clusterNodes?: string[];
  /** Key and channel prefix, so several deployments can share one Redis. Default `rp:`. */
  prefix?: string;
  /** How long a member's liveness key lives without refresh, ms; refreshed every third of it. Default 15 000. */
  presenceTtlMs?: number;
  log: Logger;
}

export class RedisBus implements RoomBus {
  readonly nodeId: string;
  private readonly redis: BusRedis;
  private readonly keys: RedisKeys;
  private readonly presenceTtlMs: number;
  private readonly clock: Clock;
  /** Attached (or attaching) peers of this instance, and the room channels that follow them. */
  private readonly local: LocalSeats;
  private readonly presence: Presence;
  private readonly revokedHandlers: Array<(r: Revocation) => void> = [];
  /** Revocations already handed to the handlers (`userId revokedAt`), so a re-read repeats none. */
  private readonly revocationsSeen = new Set<string>();
  private closed = false;

  constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId;
    this.keys = new RedisKeys(options.prefix ?? 'rp:');
    this.presenceTtlMs = options.presenceTtlMs ?? 15_000;
    this.clock = options.clock ?? systemClock;
    const target: RedisTarget | null = options.clusterNodes?.length
      ? { clusterNodes: options.clusterNodes }
      : options.url
        ? { url: options.url }
        : null;
    if (!target) throw new Error('RedisBus: give url or clusterNodes');
    this.redis = connectBusRedis(target, options.log);
    this.local = new LocalSeats({
      subscribe: (room) =>
        this.redis.sSubscribe(this.keys.channel(room, this.nodeId), (raw) => this.receive(raw)),
      unsubscribe: (room) => this.redis.sUnsubscribe(this.keys.channel(room, this.nodeId)),
      log: options.log,
    });
    this.presence = new Presence({
      nodeId: this.nodeId,
      presenceTtlMs: this.presenceTtlMs,
      resumeWindowMs: options.resumeWindowMs,
      clock: this.clock,
      log: options.log,
      redis: this.redis,
      keys: this.keys,
      local: this.local,
      ready: () => this.ready(),
      leave: (room, peerId, reason) => this.leave(room, peerId, reason),
      // Re-read the revocations, so one published while a shard channel was failing over still arrives.
      onRound: () => this.catchUpRevocations(),
    });
  }

  async start(): Promise<void> {
    await this.redis.connect();
    await this.redis.sSubscribe(this.keys.control(), (raw) => this.receiveRevocation(raw));
  }

  ready(): boolean {
    return !this.closed && this.redis.isReady();
  }

  async join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    const seat: Seat = { member, session, joinedAt: this.clock.now() };
    const peerId = member.peerId;
    const previousHere = this.local.get(peerId);
    // Queue live frames for the peer until attach has flushed its mailbox; listen on our channel of the
    // room before the seat says we hold it, so no frame published to us can miss.
    this.local.set(peerId, { room, seat, holder: null, pending: [] });
    let result: [number, string, string, string[]];
    try {
      await this.local.listen(room);
      result = (await this.redis.run(
        JOIN_SCRIPT,
        [
          this.keys.seats(room),
          this.keys.nodes(room),
          this.keys.alive(room, peerId),
          this.keys.grace(room, peerId),
        ],
        [peerId, JSON.stringify(seat), String(maxSize), this.nodeId, String(this.presenceTtlMs)],
      )) as [number, string, string, string[]];
    } catch (err) {
      this.local.restore(peerId, previousHere);
      throw err;
    }
    if (result[0] === 0) {
      this.local.restore(peerId, previousHere);
      return { ok: false, reason: 'room_full' };
    }
    await this.redis.commands.set(this.keys.session(session.sessionId), JSON.stringify(session), {
      PX: this.presenceTtlMs + this.options.resumeWindowMs,
    });
    if (result[0] === 2) {
      const [, node, raw] = result;
      const previous = (JSON.parse(raw) as Seat).session?.sessionId ?? '';
      if (previousHere && previousHere.seat.session.sessionId !== session.sessionId)
        previousHere.holder?.evicted('replaced');
      else if (node !== '' && node !== this.nodeId)
        await this.tellNode(room, node, {
          kind: 'evict',
          room,
          peerId,
          sessionId: previous,
          reason: 'replaced',
        });
    }
    const others = sortSeats(result[3])
      .filter((s) => s.member.peerId !== peerId)
      .map((s) => s.member);
    if (result[0] === 1) await this.broadcast(room, peerJoinedFrame(member), peerId);
    return { ok: true, members: others };
  }

  async leave(room: string, peerId: string, reason: LeaveReason, sessionId = ''): Promise<boolean> {
    const removed = (await this.redis.run(
      LEAVE_SCRIPT,
      [
        this.keys.seats(room),
        this.keys.nodes(room),
        this.keys.alive(room, peerId),
        this.keys.grace(room, peerId),
        this.keys.mailbox(room, peerId),
      ],
      [peerId, reason === 'timeout' ? '1' : '0', sessionId],
    )) as [string, string] | null;
    if (!removed) return false;
    const [node, raw] = removed;
    const held = (JSON.parse(raw) as Seat).session.sessionId;
    const here = this.local.get(peerId);
    if (here?.seat.session.sessionId === held) this.local.delete(peerId);
    if (reason === 'kicked' && node !== '') await this.evict(room, node, peerId, held, 'kicked', here);
    await this.broadcast(room, peerLeftFrame(peerId, reason));
    return true;
  }

  async isMember(room: string, peerId: string): Promise<boolean> {
    return (await this.redis.commands.hExists(this.keys.seats(room), peerId)) === 1;
  }

  roomCount(): number {
    return this.local.rooms().length;
  }

  async attach(room: string, peerId: string, sessionId: string, holder: SeatHolder): Promise<void> {
    const entry = this.local.get(peerId);
    if (!entry || entry.room !== room || entry.seat.session.sessionId !== sessionId) return;
    const queued = (await this.redis.run(
      TAKE_MAILBOX_SCRIPT,
      [this.keys.mailbox(room, peerId)],
      [],
    )) as string[];
    // The seat may have been taken over while the mailbox was read.
    if (this.local.get(peerId) !== entry) return;
    for (const packed of queued ?? []) {
      const frame = unpackFrame(packed);
      if (frame) deliverSafely(holder, frame);
    }
    for (const frame of entry.pending ?? []) deliverSafely(holder, frame);
    entry.pending = null;
    entry.holder = holder;
  }

  async suspend(room: string, peerId: string, sessionId: string): Promise<void> {
    const entry = this.local.get(peerId);
    if (entry?.seat.session.sessionId === sessionId) this.local.delete(peerId);
    const suspended = await this.redis.run(
      SUSPEND_SCRIPT,
      [
        this.keys.seats(room),
        this.keys.nodes(room),
        this.keys.alive(room, peerId),
        this.keys.grace(room, peerId),
      ],
      [peerId, sessionId, this.nodeId, String(this.options.resumeWindowMs)],
    );
    if (suspended !== 1) return;
    // The session record is another slot's key: its window follows the seat's, outside the script (it is
    // only an index; a resume checks it against the seat).
    await this.redis.commands.pExpire(this.keys.session(sessionId), this.options.resumeWindowMs);
    this.presence.watch(room);
  }

  async updateMember(
    room: string,
    peerId: string,
    sessionId: string,
    meta: Member['meta'],
  ): Promise<Member | null> {
    const raw = await this.redis.commands.hGet(this.keys.seats(room), peerId);
    if (!raw) return null;
    const seat = JSON.parse(raw) as Seat;
    // Nothing else of a seat changes while one session holds it, so only the holder's check must be atomic.
    const updated: Seat = { ...seat, member: { ...seat.member, meta }, session: { ...seat.session, meta } };
    const done = await this.redis.run(
      UPDATE_SCRIPT,
      [this.keys.seats(room)],
      [peerId, sessionId, JSON.stringify(updated)],
    );
    if (done !== 1) return null;
    await this.redis.commands.set(this.keys.session(sessionId), JSON.stringify(updated.session), {
      KEEPTTL: true,
    });
    const here = this.local.get(peerId);
    if (here?.seat.session.sessionId === sessionId) here.seat = updated;
    await this.broadcast(room, memberUpdatedFrame(updated.member), peerId);
    return updated.member;
  }

  sendTo(room: string, peerId: string, frame: Frame): Promise<boolean> {
    return this.route(room, frame, 'one', peerId);
  }

  async broadcast(room: string, frame: Frame, exceptPeerId?: string): Promise<void> {
    await this.route(room, frame, 'all', exceptPeerId ?? '');
  }

  async takeSession(sessionId: string): Promise<SessionRecord | null> {
    const raw = await this.redis.commands.getDel(this.keys.session(sessionId));
    if (!raw) return null;
    const record = JSON.parse(raw) as SessionRecord;
    const seat = await this.redis.commands.hGet(this.keys.seats(record.room), record.peerId);
    return seat && (JSON.parse(seat) as Seat).session.sessionId === sessionId ? record : null;
  }

  async rooms(): Promise<string[]> {
    const rooms: string[] = [];
    for await (const keys of this.redis.scan(this.keys.seatsPattern()))
      for (const key of keys) {
        const room = this.keys.roomOfSeats(key);
        if (room !== null) rooms.push(room);
      }
    return rooms;
  }

  async members(room: string): Promise<SeatInfo[]> {
    const [seats, nodes] = await Promise.all([
      this.redis.commands.hGetAll(this.keys.seats(room)),
      this.redis.commands.hGetAll(this.keys.nodes(room)),
    ]);
    return sortSeats(Object.values(seats)).map((s) => ({
      member: s.member,
      node: nodes[s.member.peerId] ?? '',
      joinedAt: s.joinedAt,
    }));
  }

  async revoke(revocation: Revocation): Promise<void> {
    await this.redis.run(
      REVOKE_SCRIPT,
      [this.keys.revoked()],
      [revocation.userId, JSON.stringify(revocation), this.keys.control()],
    );
  }

  /** Every revocation in force. The server applies what it lists (at start): it counts as heard. */
  async revocations(): Promise<Revocation[]> {
    const current = await this.readRevocations();
    for (const r of current) this.revocationsSeen.add(revocationKey(r));
    return current;
  }

  private async readRevocations(): Promise<Revocation[]> {
    const all = await this.redis.commands.hGetAll(this.keys.revoked());
    const nowSec = this.clock.now() / 1000;
    const out: Revocation[] = [];
    for (const [user, raw] of Object.entries(all)) {
      const r = parseWith(revocationSchema, raw);
      if (r && r.until > nowSec) {
        out.push(r);
      } else {
        // Ended (or unreadable): prune it here, the one place that reads them all.
        await this.redis.commands.hDel(this.keys.revoked(), user);
      }
    }
    return out;
  }

  onRevoked(handler: (revocation: Revocation) => void): void {
    this.revokedHandlers.push(handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.presence.close();
    this.local.clear();
    await this.redis.close();
  }

  private tellNode(room: string, node: string, message: NodeMessage): Promise<number> {
    return this.redis.commands.sPublish(this.keys.channel(room, node), JSON.stringify(message));
  }

  private async evict(
    room: string,
    node: string,
    peerId: string,
    sessionId: string,
    reason: EvictReason,
    here: LocalSeat | undefined,
  ): Promise<void> {
    if (node !== this.nodeId) {
      await this.tellNode(room, node, { kind: 'evict', room, peerId, sessionId, reason });
    } else if (here?.seat.session.sessionId === sessionId) {
      here.holder?.evicted(reason);
    }
  }

  /**
   * One script on the room's primary publishes to the instances holding the targets and queues for the
   * suspended ones (`ROUTE_SCRIPT`); the targets held here come back and are delivered directly, or queued
   * when they are no longer attached here.
   */
  private async route(room: string, frame: Frame, mode: 'one' | 'all', peer: string): Promise<boolean> {
    const packed = packFrame(frame);
    const reply = (await this.redis.run(
      ROUTE_SCRIPT,
      [this.keys.nodes(room)],
      [
        this.keys.room(room),
        this.nodeId,
        packed,
        deliverHead(room, packed),
        mode,
        peer,
        String(this.options.mailboxSize),
        String(this.options.resumeWindowMs),
      ],
    )) as [number, ...string[]];
    if (reply[0] === 0) return false;
    for (const id of reply.slice(1) as string[]) {
      if (this.local.has(id)) this.deliverLocal(id, frame);
      else await this.enqueue(room, id, packed);
    }
    return true;
  }

  private async enqueue(room: string, peerId: string, packed: string): Promise<void> {
    await this.redis.run(
      ENQUEUE_SCRIPT,
      [this.keys.mailbox(room, peerId)],
      [packed, String(this.options.mailboxSize), String(this.options.resumeWindowMs)],
    );
  }

  private receive(raw: string): void {
    const message = parseWith(nodeMessageSchema, raw);
    if (!message) {
      this.options.log.warn({ bytes: raw.length }, 'bus: dropped a malformed node message');
      return;
    }
    if (message.kind === 'evict') {
      const here = this.local.get(message.peerId);
      if (here?.seat.session.sessionId !== message.sessionId) return;
      this.local.delete(message.peerId);
      here.holder?.evicted(message.reason);
      return;
    }
    const frame = unpackFrame(message.frame);
    if (!frame) return;
    for (const id of message.to) {
      if (this.local.get(id)?.room === message.room) this.deliverLocal(id, frame);
      // The peer left this instance between routing and arrival: keep the frame for its resume.
      else this.enqueue(message.room, id, message.frame).catch(() => undefined);
    }
  }

  private receiveRevocation(raw: string): void {
    const revocation = parseWith(revocationSchema, raw);
    if (!revocation) {
      this.options.log.warn({ bytes: raw.length }, 'bus: dropped a malformed revocation');
      return;
    }
    this.announceRevocation(revocation);
  }

  /**
   * Hand a revocation to the handlers once, however it reached us: the channel, or the re-read that
   * catches up on messages lost while a shard channel moved (the two race, and either may come first).
   */
  private announceRevocation(revocation: Revocation): void {
    const key = revocationKey(revocation);
    if (this.revocationsSeen.has(key)) return;
    this.revocationsSeen.add(key);
    for (const handler of this.revokedHandlers) handler(revocation);
  }

  private deliverLocal(peerId: string, frame: Frame): void {
    const entry = this.local.get(peerId);
    if (!entry) return;
    if (entry.holder) deliverSafely(entry.holder, frame);
    else entry.pending?.push(frame);
  }

  private async catchUpRevocations(): Promise<void> {
    if (this.revokedHandlers.length === 0) return;
    const before = [...this.revocationsSeen];
    const current = await this.readRevocations();
    for (const r of current) this.announceRevocation(r);
    // Ended revocations were pruned from Redis: forget them here too, so the set stays bounded (one heard
    // on the channel during the read is not in `before`, and stays).
    const live = new Set(current.map(revocationKey));
    for (const key of before) if (!live.has(key)) this.revocationsSeen.delete(key);
  }
}

function revocationKey(r: Revocation): string {
  return `${r.userId} ${r.revokedAt}`;
}

/** Seats (as stored) in join order. */
function sortSeats(raws: string[]): Seat[] {
  return raws.map((raw) => JSON.parse(raw) as Seat).sort((a, b) => a.joinedAt - b.joinedAt);
}
