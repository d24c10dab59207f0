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
import { every, systemClock, type Clock } from '../../common/clock.js';
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
import {
  ENQUEUE_SCRIPT,
  JOIN_SCRIPT,
  LEAVE_SCRIPT,
  ORPHAN_SCRIPT,
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

interface Seat {
  member: Member;
  session: SessionRecord;
  joinedAt: number;
}

interface Local {
  room: string;
  seat: Seat;
  holder: SeatHolder | null;
  /** Frames that arrived between join and attach (attach flushes the mailbox first, then these). */
  pending: Frame[] | null;
}

/** This instance's channel of one room: subscribed while it holds members there. */
interface RoomChannel {
  subscribed: boolean;
  /** Subscribe and unsubscribe calls run one after the other. */
  chain: Promise<void>;
}

export class RedisBus implements RoomBus {
  readonly nodeId: string;
  private readonly redis: BusRedis;
  private readonly keys: RedisKeys;
  private readonly presenceTtlMs: number;
  private readonly clock: Clock;
  /** Attached (or attaching) peers of this instance: peerId → seat and delivery. */
  private readonly local = new Map<string, Local>();
  /** room → this instance's peers there (the index behind channel subscriptions and sweeps). */
  private readonly localByRoom = new Map<string, Set<string>>();
  private readonly channels = new Map<string, RoomChannel>();
  /** Rooms where this instance suspended a member, swept until that member's window has passed. */
  private readonly watched = new Map<string, number>();
  private readonly revokedHandlers: Array<(r: Revocation) => void> = [];
  /** Revocations already handed to the handlers (`userId revokedAt`), so a re-read repeats none. */
  private readonly revocationsSeen = new Set<string>();
  private readonly stopMaintenance: () => void;
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
    // After Redis comes back (possibly empty, or a promoted replica that missed the last writes), put our
    // members back so presence converges.
    this.redis.onReady(() => void this.reassert());
    this.stopMaintenance = every(this.clock, Math.max(100, Math.floor(this.presenceTtlMs / 3)), () => {
      void this.maintain();
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
    this.setLocal(peerId, { room, seat, holder: null, pending: [] });
    let result: [number, string, string, string[]];
    try {
      await this.listen(room);
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
      this.restoreLocal(peerId, previousHere);
      throw err;
    }
    if (result[0] === 0) {
      this.restoreLocal(peerId, previousHere);
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
    if (here?.seat.session.sessionId === held) this.deleteLocal(peerId);
    if (reason === 'kicked' && node !== '') await this.evict(room, node, peerId, held, 'kicked', here);
    await this.broadcast(room, peerLeftFrame(peerId, reason));
    return true;
  }

  async isMember(room: string, peerId: string): Promise<boolean> {
    return (await this.redis.commands.hExists(this.keys.seats(room), peerId)) === 1;
  }

  roomCount(): number {
    return this.localByRoom.size;
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
    if (entry?.seat.session.sessionId === sessionId) this.deleteLocal(peerId);
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
    // Someone must end the seat when its window passes even if no member of the room stays here.
    this.watched.set(room, this.clock.now() + this.options.resumeWindowMs);
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

  async revocations(): Promise<Revocation[]> {
    const all = await this.redis.commands.hGetAll(this.keys.revoked());
    const nowSec = this.clock.now() / 1000;
    const out: Revocation[] = [];
    for (const [user, raw] of Object.entries(all)) {
      const r = parseWith(revocationSchema, raw);
      if (r && r.until > nowSec) {
        out.push(r);
        this.revocationsSeen.add(`${r.userId} ${r.revokedAt}`);
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
    this.stopMaintenance();
    this.local.clear();
    this.localByRoom.clear();
    await this.redis.close();
  }

  private setLocal(peerId: string, entry: Local): void {
    const previous = this.local.get(peerId);
    if (previous && previous.room !== entry.room) this.deleteLocal(peerId);
    this.local.set(peerId, entry);
    let peers = this.localByRoom.get(entry.room);
    if (!peers) this.localByRoom.set(entry.room, (peers = new Set()));
    peers.add(peerId);
  }

  private deleteLocal(peerId: string): void {
    const entry = this.local.get(peerId);
    if (!entry) return;
    this.local.delete(peerId);
    const peers = this.localByRoom.get(entry.room);
    peers?.delete(peerId);
    if (peers?.size === 0) {
      this.localByRoom.delete(entry.room);
      // The last member here left: stop listening (a frame already on its way finds no one and is queued).
      this.listen(entry.room).catch((err: unknown) =>
        this.options.log.debug({ err, room: entry.room }, 'bus: unsubscribing a room failed'),
      );
    }
  }

  private restoreLocal(peerId: string, previous: Local | undefined): void {
    if (previous) this.setLocal(peerId, previous);
    else this.deleteLocal(peerId);
  }

  /**
   * Bring this instance's subscription to its channel of `room` in line with whether it holds members
   * there; calls for one room run in order, each deciding from the state when it runs.
   */
  private listen(room: string): Promise<void> {
    let channel = this.channels.get(room);
    if (!channel) this.channels.set(room, (channel = { subscribed: false, chain: Promise.resolve() }));
    const state = channel;
    const name = this.keys.channel(room, this.nodeId);
    const step = state.chain.then(async () => {
      const wanted = this.localByRoom.has(room) && !this.closed;
      if (wanted && !state.subscribed) {
        await this.redis.sSubscribe(name, (raw) => this.receive(raw));
        state.subscribed = true;
      } else if (!wanted && state.subscribed) {
        state.subscribed = false;
        await this.redis.sUnsubscribe(name);
      }
      if (!state.subscribed && !this.localByRoom.has(room) && this.channels.get(room) === state)
        this.channels.delete(room);
    });
    state.chain = step.catch(() => undefined);
    return step;
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
    here: Local | undefined,
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
      this.deleteLocal(message.peerId);
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
    this.revocationsSeen.add(`${revocation.userId} ${revocation.revokedAt}`);
    for (const handler of this.revokedHandlers) handler(revocation);
  }

  private deliverLocal(peerId: string, frame: Frame): void {
    const entry = this.local.get(peerId);
    if (!entry) return;
    if (entry.holder) deliverSafely(entry.holder, frame);
    else entry.pending?.push(frame);
  }

  /**
   * Every third of the presence TTL: refresh our members' liveness, then sweep the rooms we serve (and
   * those where we suspended someone) for members whose instance died (liveness gone) — they become
   * suspended with a grace period — and for suspended members whose grace ran out, who leave `timeout`.
   * Also re-read the revocations, so one published while a shard channel was failing over still arrives.
   */
  private async maintain(): Promise<void> {
    if (!this.ready()) return;
    try {
      // One command per member, pipelined by the client: in a cluster they go to their rooms' primaries.
      const sessionTtl = this.presenceTtlMs + this.options.resumeWindowMs;
      await Promise.all(
        [...this.local].flatMap(([peerId, entry]) => [
          this.redis.commands.set(this.keys.alive(entry.room, peerId), this.nodeId, {
            PX: this.presenceTtlMs,
          }),
          this.redis.commands.pExpire(this.keys.session(entry.seat.session.sessionId), sessionTtl),
        ]),
      );
      const now = this.clock.now();
      const rooms = new Set(this.localByRoom.keys());
      for (const [room, until] of this.watched) {
        rooms.add(room);
        // One more sweep after the window, then the room is ours to watch no longer.
        if (until + this.presenceTtlMs < now) this.watched.delete(room);
      }
      for (const room of rooms) await this.sweep(room);
      await this.catchUpRevocations();
    } catch (err) {
      this.options.log.debug({ err }, 'presence maintenance failed');
    }
  }

  private async catchUpRevocations(): Promise<void> {
    if (this.revokedHandlers.length === 0) return;
    const seen = new Set(this.revocationsSeen);
    for (const r of await this.revocations()) {
      if (seen.has(`${r.userId} ${r.revokedAt}`)) continue;
      for (const handler of this.revokedHandlers) handler(r);
    }
  }

  private async sweep(room: string): Promise<void> {
    const nodes = await this.redis.commands.hGetAll(this.keys.nodes(room));
    for (const [peerId, node] of Object.entries(nodes)) {
      if (node === this.nodeId) continue;
      if (node !== '') {
        if ((await this.redis.commands.exists(this.keys.alive(room, peerId))) === 1) continue;
        // Its instance died: hold the seat for the resume window, queueing its frames.
        const raw = (await this.redis.run(
          ORPHAN_SCRIPT,
          [this.keys.seats(room), this.keys.nodes(room), this.keys.grace(room, peerId)],
          [peerId, node, String(this.options.resumeWindowMs)],
        )) as string | null;
        if (raw)
          await this.redis.commands.pExpire(
            this.keys.session((JSON.parse(raw) as Seat).session.sessionId),
            this.options.resumeWindowMs,
          );
        continue;
      }
      await this.leave(room, peerId, 'timeout');
    }
  }

  /**
   * Redis is back, possibly empty (restarted without persistence, or a promoted replica that missed the
   * last writes): re-seat our members and their sessions from our own view, so rooms converge to the
   * connections that actually exist.
   */
  private async reassert(): Promise<void> {
    if (this.local.size === 0 || this.closed) return;
    this.options.log.info({ members: this.local.size }, 'redis ready: re-asserting presence');
    try {
      const c = this.redis.commands;
      await Promise.all(
        [...this.local].flatMap(([peerId, { room, seat }]) => [
          c.hSet(this.keys.seats(room), peerId, JSON.stringify(seat)),
          c.hSet(this.keys.nodes(room), peerId, this.nodeId),
          c.set(this.keys.alive(room, peerId), this.nodeId, { PX: this.presenceTtlMs }),
          c.set(this.keys.session(seat.session.sessionId), JSON.stringify(seat.session), {
            PX: this.presenceTtlMs + this.options.resumeWindowMs,
          }),
        ]),
      );
    } catch (err) {
      this.options.log.warn({ err }, 're-asserting presence failed; the next maintenance retries');
    }
  }
}

/** Seats (as stored) in join order. */
function sortSeats(raws: string[]): Seat[] {
  return raws.map((raw) => JSON.parse(raw) as Seat).sort((a, b) => a.joinedAt - b.joinedAt);
}
