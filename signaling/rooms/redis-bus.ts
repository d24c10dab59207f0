/**
 * The room bus on Redis, for N signaling instances behind a load balancer. Redis holds membership,
 * sessions, mailboxes and revocations; pub/sub only moves frames and evictions to the instance that holds
 * the target's socket, and revocations to every instance.
 *
 * Keys (prefix `rp:` by default):
 *   room:{room}   HASH peerId → {member, session, joinedAt} (what does not change while seated)
 *   node:{room}   HASH peerId → instance holding its connection; '' while suspended
 *   alive:{peer}  the member's instance is alive; refreshed by that instance, expires when it dies
 *   grace:{peer}  a suspended member may still resume until this expires (the one resume window)
 *   mbox:{peer}   LIST of packed frames queued while suspended (bounded)
 *   sess:{id}     a resumable session record; valid while its member still holds the seat
 *   revoked:{user} a revocation, expiring when it ends
 *   channel node:{nodeId}  frames and evictions for that instance, in publish order
 *   channel ctl            revocations, for every instance
 * Delivery order between two peers is kept: one connection's messages are handled in order and published
 * on one Redis connection to one channel.
 */
import { createClient, type RedisClientType } from 'redis';
import type { Logger } from 'pino';
import type { Member } from '../protocol/index.js';
import { every, systemClock, type Clock } from '../../common/clock.js';
import {
  nodeMessageSchema,
  packFrame,
  parseWith,
  revocationSchema,
  unpackFrame,
  type NodeMessage,
} from './bus-messages.js';
import type { Frame } from './frame.js';
import { JOIN_SCRIPT, LEAVE_SCRIPT, SUSPEND_SCRIPT, UPDATE_SCRIPT } from './redis-scripts.js';
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
  url: string;
  /** Key and channel prefix, so several deployments can share one Redis. */
  prefix?: string;
  /** How long an instance's liveness key lives without refresh, ms; refreshed every third of it. */
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

export class RedisBus implements RoomBus {
  readonly nodeId: string;
  private readonly client: RedisClientType;
  private readonly subscriber: RedisClientType;
  private readonly prefix: string;
  private readonly presenceTtlMs: number;
  private readonly clock: Clock;
  /** Attached (or attaching) peers of this instance: peerId → seat and delivery. */
  private readonly local = new Map<string, Local>();
  /** Rooms where this instance suspended a member, swept until that member's window has passed. */
  private readonly watched = new Map<string, number>();
  private readonly revokedHandlers: Array<(r: Revocation) => void> = [];
  private readonly stopMaintenance: () => void;
  private closed = false;

  constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId;
    this.prefix = options.prefix ?? 'rp:';
    this.presenceTtlMs = options.presenceTtlMs ?? 15_000;
    this.clock = options.clock ?? systemClock;
    // Fail fast while Redis is away (no offline queue): callers get an error now, not a hang.
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 2000), connectTimeout: 2000 },
    });
    this.subscriber = this.client.duplicate();
    for (const c of [this.client, this.subscriber]) {
      c.on('error', (err: Error) => options.log.warn({ err: err.message }, 'redis error'));
    }
    // After Redis comes back (possibly empty), put our members back so presence converges.
    this.client.on('ready', () => void this.reassert());
    this.stopMaintenance = every(this.clock, Math.max(100, Math.floor(this.presenceTtlMs / 3)), () => {
      void this.maintain();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.client.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(this.key('node', this.nodeId), (raw) => this.receive(raw));
    await this.subscriber.subscribe(this.key('ctl', ''), (raw) => this.receiveRevocation(raw));
  }

  ready(): boolean {
    return !this.closed && this.client.isReady && this.subscriber.isReady;
  }

  async join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    const seat: Seat = { member, session, joinedAt: this.clock.now() };
    const peerId = member.peerId;
    const previousHere = this.local.get(peerId);
    // Queue live frames for the peer until attach has flushed its mailbox.
    this.local.set(peerId, { room, seat, holder: null, pending: [] });
    const result = (await this.client.eval(JOIN_SCRIPT, {
      keys: [this.key('room', room), this.key('nodes', room)],
      arguments: [peerId, JSON.stringify(seat), String(maxSize), this.nodeId],
    })) as [number, string?, string?];
    if (result[0] === 0) {
      if (previousHere) this.local.set(peerId, previousHere);
      else this.local.delete(peerId);
      return { ok: false, reason: 'room_full' };
    }
    await this.client
      .multi()
      .set(this.key('alive', peerId), this.nodeId, { PX: this.presenceTtlMs })
      .del(this.key('grace', peerId))
      .set(this.key('sess', session.sessionId), JSON.stringify(session), {
        PX: this.presenceTtlMs + this.options.resumeWindowMs,
      })
      .exec();
    if (result[0] === 2) {
      const [, node = '', raw = '{}'] = result;
      const previous = (JSON.parse(raw) as Seat).session?.sessionId ?? '';
      if (previousHere && previousHere.seat.session.sessionId !== session.sessionId)
        previousHere.holder?.evicted('replaced');
      else if (node !== '' && node !== this.nodeId)
        await this.tellNode(node, { kind: 'evict', peerId, sessionId: previous, reason: 'replaced' });
    }
    const others = (await this.seats(room)).filter((s) => s.member.peerId !== peerId).map((s) => s.member);
    if (result[0] === 1) await this.broadcast(room, peerJoinedFrame(member), peerId);
    return { ok: true, members: others };
  }

  async leave(room: string, peerId: string, reason: LeaveReason, sessionId = ''): Promise<boolean> {
    const removed = (await this.client.eval(LEAVE_SCRIPT, {
      keys: [
        this.key('room', room),
        this.key('nodes', room),
        this.key('alive', peerId),
        this.key('grace', peerId),
        this.key('mbox', peerId),
      ],
      arguments: [peerId, reason === 'timeout' ? '1' : '0', sessionId],
    })) as [string, string] | null;
    if (!removed) return false;
    const [node, raw] = removed;
    const held = (JSON.parse(raw) as Seat).session.sessionId;
    const here = this.local.get(peerId);
    if (here?.seat.session.sessionId === held) this.local.delete(peerId);
    if (reason === 'kicked' && node !== '') await this.evict(node, peerId, held, 'kicked', here);
    await this.broadcast(room, peerLeftFrame(peerId, reason));
    return true;
  }

  async isMember(room: string, peerId: string): Promise<boolean> {
    return (await this.client.hExists(this.key('room', room), peerId)) === 1;
  }

  roomCount(): number {
    return new Set([...this.local.values()].map((l) => l.room)).size;
  }

  async attach(room: string, peerId: string, sessionId: string, holder: SeatHolder): Promise<void> {
    const entry = this.local.get(peerId);
    if (!entry || entry.room !== room || entry.seat.session.sessionId !== sessionId) return;
    const mbox = this.key('mbox', peerId);
    const [queued] = (await this.client.multi().lRange(mbox, 0, -1).del(mbox).exec()) as unknown as [
      string[],
    ];
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
    const suspended = await this.client.eval(SUSPEND_SCRIPT, {
      keys: [
        this.key('room', room),
        this.key('nodes', room),
        this.key('alive', peerId),
        this.key('grace', peerId),
        this.key('sess', sessionId),
      ],
      arguments: [peerId, sessionId, this.nodeId, String(this.options.resumeWindowMs)],
    });
    // Someone must end the seat when its window passes even if no member of the room stays here.
    if (suspended === 1) this.watched.set(room, this.clock.now() + this.options.resumeWindowMs);
  }

  async updateMember(
    room: string,
    peerId: string,
    sessionId: string,
    meta: Member['meta'],
  ): Promise<Member | null> {
    const raw = await this.client.hGet(this.key('room', room), peerId);
    if (!raw) return null;
    const seat = JSON.parse(raw) as Seat;
    // Nothing else of a seat changes while one session holds it, so only the holder's check must be atomic.
    const updated: Seat = { ...seat, member: { ...seat.member, meta }, session: { ...seat.session, meta } };
    const done = await this.client.eval(UPDATE_SCRIPT, {
      keys: [this.key('room', room), this.key('sess', sessionId)],
      arguments: [peerId, sessionId, JSON.stringify(updated), JSON.stringify(updated.session)],
    });
    if (done !== 1) return null;
    const here = this.local.get(peerId);
    if (here?.seat.session.sessionId === sessionId) here.seat = updated;
    await this.broadcast(room, memberUpdatedFrame(updated.member), peerId);
    return updated.member;
  }

  async sendTo(room: string, peerId: string, frame: Frame): Promise<boolean> {
    const node = await this.client.hGet(this.key('nodes', room), peerId);
    if (node === null || node === undefined) return false;
    await this.route([{ peerId, node }], frame);
    return true;
  }

  async broadcast(room: string, frame: Frame, exceptPeerId?: string): Promise<void> {
    const nodes = await this.client.hGetAll(this.key('nodes', room));
    const targets = Object.entries(nodes)
      .filter(([peerId]) => peerId !== exceptPeerId)
      .map(([peerId, node]) => ({ peerId, node }));
    await this.route(targets, frame);
  }

  async takeSession(sessionId: string): Promise<SessionRecord | null> {
    const raw = await this.client.getDel(this.key('sess', sessionId));
    if (!raw) return null;
    const record = JSON.parse(raw) as SessionRecord;
    const seat = await this.client.hGet(this.key('room', record.room), record.peerId);
    return seat && (JSON.parse(seat) as Seat).session.sessionId === sessionId ? record : null;
  }

  async rooms(): Promise<string[]> {
    const prefix = this.key('room', '');
    const rooms: string[] = [];
    for await (const keys of this.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 }))
      for (const key of keys) rooms.push(key.slice(prefix.length));
    return rooms;
  }

  async members(room: string): Promise<SeatInfo[]> {
    const nodes = await this.client.hGetAll(this.key('nodes', room));
    return (await this.seats(room)).map((s) => ({
      member: s.member,
      node: nodes[s.member.peerId] ?? '',
      joinedAt: s.joinedAt,
    }));
  }

  async revoke(revocation: Revocation): Promise<void> {
    const raw = JSON.stringify(revocation);
    await this.client
      .multi()
      .set(this.key('revoked', revocation.userId), raw, { PXAT: revocation.until * 1000 })
      .publish(this.key('ctl', ''), raw)
      .exec();
  }

  async revocations(): Promise<Revocation[]> {
    const prefix = this.key('revoked', '');
    const out: Revocation[] = [];
    for await (const keys of this.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length === 0) continue;
      for (const raw of await this.client.mGet(keys)) {
        const r = raw ? parseWith(revocationSchema, raw) : null;
        if (r) out.push(r);
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
    await Promise.allSettled([this.subscriber.close(), this.client.close()]);
  }

  private key(kind: string, id: string): string {
    return `${this.prefix}${kind}:${id}`;
  }

  private async seats(room: string): Promise<Seat[]> {
    const all = await this.client.hGetAll(this.key('room', room));
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as Seat)
      .sort((a, b) => a.joinedAt - b.joinedAt);
  }

  private async tellNode(node: string, message: NodeMessage): Promise<number> {
    return this.client.publish(this.key('node', node), JSON.stringify(message));
  }

  private async evict(
    node: string,
    peerId: string,
    sessionId: string,
    reason: EvictReason,
    here: Local | undefined,
  ): Promise<void> {
    if (node !== this.nodeId) {
      await this.tellNode(node, { kind: 'evict', peerId, sessionId, reason });
    } else if (here?.seat.session.sessionId === sessionId) {
      here.holder?.evicted(reason);
    }
  }

  /**
   * Local peers get the frame directly; suspended ones in their mailbox; others through their instance.
   * A publish nobody received means that instance died before its liveness expired: the frame goes to the
   * mailboxes instead, so a peer resuming elsewhere still gets it.
   */
  private async route(targets: Array<{ peerId: string; node: string }>, frame: Frame): Promise<void> {
    const byNode = new Map<string, string[]>();
    const queued: string[] = [];
    for (const { peerId, node } of targets) {
      if (node === this.nodeId && this.local.has(peerId)) this.deliverLocal(peerId, frame);
      else if (node === '' || node === this.nodeId) queued.push(peerId);
      else byNode.set(node, [...(byNode.get(node) ?? []), peerId]);
    }
    const packed = packFrame(frame);
    const published = await Promise.all(
      [...byNode].map(async ([node, to]) => ({
        to,
        received: await this.tellNode(node, { kind: 'deliver', to, frame: packed }),
      })),
    );
    for (const p of published) if (p.received === 0) queued.push(...p.to);
    if (queued.length > 0) await this.enqueue(queued, packed);
  }

  private async enqueue(peerIds: string[], packed: string): Promise<void> {
    const multi = this.client.multi();
    for (const id of peerIds) {
      const mbox = this.key('mbox', id);
      multi
        .rPush(mbox, packed)
        .lTrim(mbox, -this.options.mailboxSize, -1)
        .pExpire(mbox, this.options.resumeWindowMs);
    }
    await multi.exec();
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
      if (this.local.has(id)) this.deliverLocal(id, frame);
      // The peer left this instance between routing and arrival: keep the frame for its resume.
      else this.enqueue([id], message.frame).catch(() => undefined);
    }
  }

  private receiveRevocation(raw: string): void {
    const revocation = parseWith(revocationSchema, raw);
    if (!revocation) {
      this.options.log.warn({ bytes: raw.length }, 'bus: dropped a malformed revocation');
      return;
    }
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
   */
  private async maintain(): Promise<void> {
    if (!this.ready()) return;
    try {
      const multi = this.client.multi();
      for (const [peerId, entry] of this.local) {
        multi.set(this.key('alive', peerId), this.nodeId, { PX: this.presenceTtlMs });
        multi.pExpire(
          this.key('sess', entry.seat.session.sessionId),
          this.presenceTtlMs + this.options.resumeWindowMs,
        );
      }
      await multi.exec();
      const now = this.clock.now();
      const rooms = new Set([...this.local.values()].map((l) => l.room));
      for (const [room, until] of this.watched) {
        rooms.add(room);
        // One more sweep after the window, then the room is ours to watch no longer.
        if (until + this.presenceTtlMs < now) this.watched.delete(room);
      }
      for (const room of rooms) await this.sweep(room);
    } catch (err) {
      this.options.log.debug({ err }, 'presence maintenance failed');
    }
  }

  private async sweep(room: string): Promise<void> {
    const nodes = await this.client.hGetAll(this.key('nodes', room));
    for (const [peerId, node] of Object.entries(nodes)) {
      if (node === this.nodeId) continue;
      if (node !== '') {
        if ((await this.client.exists(this.key('alive', peerId))) === 1) continue;
        // Its instance died: hold the seat for the resume window, queueing its frames.
        const raw = await this.client.hGet(this.key('room', room), peerId);
        if (!raw) continue;
        await this.client
          .multi()
          .hSet(this.key('nodes', room), peerId, '')
          .set(this.key('grace', peerId), '1', { PX: this.options.resumeWindowMs, NX: true })
          .pExpire(this.key('sess', (JSON.parse(raw) as Seat).session.sessionId), this.options.resumeWindowMs)
          .exec();
        continue;
      }
      await this.leave(room, peerId, 'timeout');
    }
  }

  /**
   * Redis is back, possibly empty (restarted without persistence): re-seat our members and their
   * sessions from our own view, so rooms converge to the connections that actually exist.
   */
  private async reassert(): Promise<void> {
    if (this.local.size === 0 || this.closed) return;
    this.options.log.info({ members: this.local.size }, 'redis ready: re-asserting presence');
    try {
      const multi = this.client.multi();
      for (const [peerId, { room, seat }] of this.local) {
        multi.hSet(this.key('room', room), peerId, JSON.stringify(seat));
        multi.hSet(this.key('nodes', room), peerId, this.nodeId);
        multi.set(this.key('alive', peerId), this.nodeId, { PX: this.presenceTtlMs });
        multi.set(this.key('sess', seat.session.sessionId), JSON.stringify(seat.session), {
          PX: this.presenceTtlMs + this.options.resumeWindowMs,
        });
      }
      await multi.exec();
    } catch (err) {
      this.options.log.warn({ err }, 're-asserting presence failed; the next maintenance retries');
    }
  }
}
