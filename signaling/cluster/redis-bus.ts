/**
 * The room bus on Redis, for N signaling instances behind a load balancer. Redis holds membership,
 * sessions and mailboxes; pub/sub only moves messages to the instance that holds the target's socket.
 *
 * Keys (prefix `rp:` by default):
 *   room:{room}   HASH peerId → {member, node, session, joinedAt}; node '' while suspended
 *   alive:{peer}  the member's instance is alive; refreshed by that instance, expires when it dies
 *   grace:{peer}  a suspended member may still resume until this expires
 *   mbox:{peer}   LIST of messages queued while suspended (bounded)
 *   sess:{id}     a resumable session record; valid while its member still holds the seat
 *   channel node:{nodeId}  messages for peers attached to that instance, in publish order
 * Delivery order between two peers is kept: one connection's messages are handled in order and published
 * on one Redis connection to one channel.
 */
import { createClient, type RedisClientType } from 'redis';
import type { Logger } from 'pino';
import type { Member, ServerMessage } from '../protocol/index.js';
import type {
  BusOptions,
  Deliver,
  JoinOutcome,
  LeaveReason,
  RoomBus,
  SessionRecord,
} from '../rooms/room-bus.js';

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
  node: string;
  session: SessionRecord;
  joinedAt: number;
}

interface Envelope {
  to: string[];
  message: ServerMessage;
}

/** Join atomically: re-seat an existing member, refuse when full, else add. Returns 0 full, 1 new, 2 re-seat. */
const JOIN_SCRIPT = `
local existing = redis.call('HEXISTS', KEYS[1], ARGV[1])
if existing == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if existing == 1 then return 2 end
return 1`;

/** Remove a member; with ARGV[2] = '1' only while it is suspended and out of grace. */
const LEAVE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if ARGV[2] == '1' then
  local seat = cjson.decode(raw)
  if seat.node ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
  if seat.node == '' and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
return 1`;

export class RedisBus implements RoomBus {
  readonly nodeId: string;
  private readonly client: RedisClientType;
  private readonly subscriber: RedisClientType;
  private readonly prefix: string;
  private readonly presenceTtlMs: number;
  /** Local attached peers: peerId → room and delivery. */
  private readonly local = new Map<
    string,
    { room: string; seat: Seat; deliver: Deliver | null; pending: ServerMessage[] | null }
  >();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId;
    this.prefix = options.prefix ?? 'rp:';
    this.presenceTtlMs = options.presenceTtlMs ?? 15_000;
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
    this.timer = setInterval(() => void this.maintain(), Math.max(100, Math.floor(this.presenceTtlMs / 3)));
    this.timer.unref();
  }

  async start(): Promise<void> {
    await Promise.all([this.client.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(this.key('node', this.nodeId), (raw) => this.receive(raw));
  }

  ready(): boolean {
    return !this.closed && this.client.isReady && this.subscriber.isReady;
  }

  async join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    const seat: Seat = { member, node: this.nodeId, session, joinedAt: Date.now() };
    // Queue live messages for the peer until attach has flushed its mailbox.
    this.local.set(member.peerId, { room, seat, deliver: null, pending: [] });
    const result = await this.client.eval(JOIN_SCRIPT, {
      keys: [this.key('room', room)],
      arguments: [member.peerId, JSON.stringify(seat), String(maxSize)],
    });
    if (result === 0) {
      this.local.delete(member.peerId);
      return { ok: false, reason: 'room_full' };
    }
    await this.client
      .multi()
      .set(this.key('alive', member.peerId), this.nodeId, { PX: this.presenceTtlMs })
      .del(this.key('grace', member.peerId))
      .set(this.key('sess', session.sessionId), JSON.stringify(session), {
        PX: this.presenceTtlMs + this.options.resumeWindowMs,
      })
      .exec();
    const others = (await this.seats(room))
      .filter((s) => s.member.peerId !== member.peerId)
      .map((s) => s.member);
    if (result === 1) await this.broadcast(room, { type: 'peer-joined', peer: member }, member.peerId);
    return { ok: true, members: others };
  }

  async leave(room: string, peerId: string, reason: LeaveReason): Promise<boolean> {
    const removed = await this.client.eval(LEAVE_SCRIPT, {
      keys: [
        this.key('room', room),
        this.key('alive', peerId),
        this.key('grace', peerId),
        this.key('mbox', peerId),
      ],
      arguments: [peerId, reason === 'timeout' ? '1' : '0'],
    });
    if (removed !== 1) return false;
    this.local.delete(peerId);
    await this.broadcast(room, { type: 'peer-left', peerId, reason });
    return true;
  }

  async isMember(room: string, peerId: string): Promise<boolean> {
    return (await this.client.hExists(this.key('room', room), peerId)) === 1;
  }

  roomCount(): number {
    return new Set([...this.local.values()].map((l) => l.room)).size;
  }

  async attach(room: string, peerId: string, deliver: Deliver): Promise<void> {
    const entry = this.local.get(peerId);
    if (!entry || entry.room !== room) return;
    const mbox = this.key('mbox', peerId);
    const [queued] = (await this.client.multi().lRange(mbox, 0, -1).del(mbox).exec()) as unknown as [
      string[],
    ];
    for (const raw of queued ?? []) deliver(JSON.parse(raw) as ServerMessage);
    for (const message of entry.pending ?? []) deliver(message);
    entry.pending = null;
    entry.deliver = deliver;
  }

  async suspend(room: string, peerId: string): Promise<void> {
    this.local.delete(peerId);
    const raw = await this.client.hGet(this.key('room', room), peerId);
    if (!raw) return;
    const seat = JSON.parse(raw) as Seat;
    if (seat.node !== this.nodeId) return; // resumed elsewhere already
    seat.node = '';
    await this.client
      .multi()
      .hSet(this.key('room', room), peerId, JSON.stringify(seat))
      .del(this.key('alive', peerId))
      .set(this.key('grace', peerId), '1', { PX: this.options.resumeWindowMs })
      .pExpire(this.key('sess', seat.session.sessionId), this.options.resumeWindowMs)
      .exec();
  }

  async sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean> {
    const raw = await this.client.hGet(this.key('room', room), peerId);
    if (!raw) return false;
    await this.route([JSON.parse(raw) as Seat], message);
    return true;
  }

  async broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void> {
    const seats = (await this.seats(room)).filter((s) => s.member.peerId !== exceptPeerId);
    await this.route(seats, message);
  }

  async takeSession(sessionId: string): Promise<SessionRecord | null> {
    const raw = await this.client.getDel(this.key('sess', sessionId));
    if (!raw) return null;
    const record = JSON.parse(raw) as SessionRecord;
    const seat = await this.client.hGet(this.key('room', record.room), record.peerId);
    return seat && (JSON.parse(seat) as Seat).session.sessionId === sessionId ? record : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
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

  /**
   * Local peers get the message directly; suspended ones in their mailbox; others through their node.
   * A publish nobody received means that node died before its liveness expired: the message goes to the
   * mailboxes instead, so a peer resuming elsewhere still gets it.
   */
  private async route(seats: Seat[], message: ServerMessage): Promise<void> {
    const byNode = new Map<string, string[]>();
    const queued: string[] = [];
    for (const seat of seats) {
      const id = seat.member.peerId;
      if (seat.node === this.nodeId && this.local.has(id)) this.deliverLocal(id, message);
      else if (seat.node === '' || seat.node === this.nodeId) queued.push(id);
      else byNode.set(seat.node, [...(byNode.get(seat.node) ?? []), id]);
    }
    const published = await Promise.all(
      [...byNode].map(async ([node, to]) => ({
        to,
        received: await this.client.publish(
          this.key('node', node),
          JSON.stringify({ to, message } satisfies Envelope),
        ),
      })),
    );
    for (const p of published) if (p.received === 0) queued.push(...p.to);
    if (queued.length > 0) await this.enqueue(queued, message);
  }

  private async enqueue(peerIds: string[], message: ServerMessage): Promise<void> {
    const multi = this.client.multi();
    const raw = JSON.stringify(message);
    for (const id of peerIds) {
      const mbox = this.key('mbox', id);
      multi
        .rPush(mbox, raw)
        .lTrim(mbox, -this.options.mailboxSize, -1)
        .pExpire(mbox, this.options.resumeWindowMs);
    }
    await multi.exec();
  }

  private receive(raw: string): void {
    const envelope = JSON.parse(raw) as Envelope;
    for (const id of envelope.to) {
      if (this.local.has(id)) this.deliverLocal(id, envelope.message);
      // The peer left this instance between routing and arrival: keep the message for its resume.
      else this.enqueue([id], envelope.message).catch(() => undefined);
    }
  }

  private deliverLocal(peerId: string, message: ServerMessage): void {
    const entry = this.local.get(peerId);
    if (!entry) return;
    if (entry.deliver) entry.deliver(message);
    else entry.pending?.push(message);
  }

  /**
   * Every third of the presence TTL: refresh our members' liveness, then sweep rooms we serve for
   * members whose instance died (liveness gone) — they become suspended with a grace period — and for
   * suspended members whose grace ran out, who leave with `timeout`.
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
      for (const room of new Set([...this.local.values()].map((l) => l.room))) await this.sweep(room);
    } catch (err) {
      this.options.log.debug({ err }, 'presence maintenance failed');
    }
  }

  private async sweep(room: string): Promise<void> {
    for (const seat of await this.seats(room)) {
      const id = seat.member.peerId;
      if (seat.node === this.nodeId) continue;
      if (seat.node !== '') {
        if ((await this.client.exists(this.key('alive', id))) === 1) continue;
        // Its instance died: hold the seat for the resume window, queueing its messages.
        seat.node = '';
        await this.client
          .multi()
          .hSet(this.key('room', room), id, JSON.stringify(seat))
          .set(this.key('grace', id), '1', { PX: this.options.resumeWindowMs, NX: true })
          .pExpire(this.key('sess', seat.session.sessionId), this.options.resumeWindowMs)
          .exec();
        continue;
      }
      await this.leave(room, id, 'timeout');
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
