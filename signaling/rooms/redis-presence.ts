/**
 * Presence on the Redis bus: the one owner of "is a member's instance still there" and of ending seats
 * whose resume window passed. Every third of the presence TTL it refreshes the liveness of the members
 * attached here, then sweeps the rooms this instance serves (and those where it suspended someone) for
 * members whose instance died (liveness gone) — suspended with a grace period — and for suspended members
 * whose grace ran out, who leave `timeout`. Members of ours that another instance took for dead while this
 * one stalled are reclaimed by the refresh. After Redis comes back from a loss it re-asserts our seats and
 * hands our attached members what was queued for them meanwhile.
 */
import type { Logger } from 'pino';
import { every, type Clock } from '../../common/clock.js';
import { unpackFrame } from './bus-messages.js';
import type { BusRedis } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import type { LocalSeats, Seat } from './redis-local-seats.js';
import { HEARTBEAT_SCRIPT, ORPHAN_SCRIPT, REASSERT_SCRIPT, TAKE_MAILBOX_SCRIPT } from './redis-scripts.js';
import { deliverSafely, type LeaveReason } from './room-bus.js';

export interface PresenceOptions {
  nodeId: string;
  presenceTtlMs: number;
  resumeWindowMs: number;
  clock: Clock;
  log: Logger;
  redis: BusRedis;
  keys: RedisKeys;
  local: LocalSeats;
  /** Whether the bus can reach Redis now (maintenance waits otherwise). */
  ready: () => boolean;
  /** The bus's own leave, for seats whose window passed. */
  leave: (room: string, peerId: string, reason: LeaveReason) => Promise<boolean>;
  /** More work for each round (the bus re-reads revocations). */
  onRound: () => Promise<void>;
}

export class Presence {
  /** Rooms where this instance suspended a member, swept until that member's window has passed. */
  private readonly watched = new Map<string, number>();
  private readonly stop: () => void;
  private closed = false;

  constructor(private readonly o: PresenceOptions) {
    this.stop = every(o.clock, Math.max(100, Math.floor(o.presenceTtlMs / 3)), () => void this.round());
    o.redis.onReady(() => void this.reassert());
  }

  /** Someone must end a seat suspended here when its window passes, even if no member stays here. */
  watch(room: string): void {
    this.watched.set(room, this.o.clock.now() + this.o.resumeWindowMs);
  }

  close(): void {
    this.closed = true;
    this.stop();
  }

  private async round(): Promise<void> {
    if (!this.o.ready()) return;
    const { local } = this.o;
    try {
      await this.heartbeat();
      const now = this.o.clock.now();
      const rooms = new Set(local.rooms());
      for (const [room, until] of this.watched) {
        rooms.add(room);
        // One more sweep after the window, then the room is ours to watch no longer.
        if (until + this.o.presenceTtlMs < now) this.watched.delete(room);
      }
      for (const room of rooms) await this.sweep(room);
      await this.o.onRound();
    } catch (err) {
      this.o.log.debug({ err }, 'presence maintenance failed');
    }
  }

  /**
   * Our members' liveness, pipelined by the client (in a cluster each goes to its room's primary). An event
   * loop stalled past the TTL (a GC pause, a CPU-starved host, a debugger) had its members taken for dead
   * by another instance's sweep, their seats suspended and their frames queued: reclaim them and hand them
   * what was queued, so a live connection is never timed out of its room.
   */
  private async heartbeat(): Promise<void> {
    const { redis, keys, local, nodeId, presenceTtlMs } = this.o;
    const sessionTtl = presenceTtlMs + this.o.resumeWindowMs;
    const reclaimed: string[] = [];
    await Promise.all(
      local
        .entries()
        .flatMap(([peerId, entry]) => [
          redis
            .run(
              HEARTBEAT_SCRIPT,
              [
                keys.seats(entry.room),
                keys.nodes(entry.room),
                keys.alive(entry.room, peerId),
                keys.grace(entry.room, peerId),
              ],
              [peerId, nodeId, entry.seat.session.sessionId, String(presenceTtlMs), entry.holder ? '1' : '0'],
            )
            .then((result) => void (result === 2 && reclaimed.push(peerId))),
          redis.commands.pExpire(keys.session(entry.seat.session.sessionId), sessionTtl),
        ]),
    );
    if (reclaimed.length === 0) return;
    this.o.log.warn(
      { members: reclaimed.length },
      'presence had lapsed (this instance stalled past PRESENCE_TTL_MS): reclaimed members another instance took for dead',
    );
    await this.drainMailboxes(reclaimed);
  }

  private async sweep(room: string): Promise<void> {
    const { redis, keys } = this.o;
    const nodes = await redis.commands.hGetAll(keys.nodes(room));
    for (const [peerId, node] of Object.entries(nodes)) {
      if (node === this.o.nodeId) continue;
      if (node !== '') {
        if ((await redis.commands.exists(keys.alive(room, peerId))) === 1) continue;
        // Its instance died: hold the seat for the resume window, queueing its frames.
        const raw = (await redis.run(
          ORPHAN_SCRIPT,
          [keys.seats(room), keys.nodes(room), keys.grace(room, peerId)],
          [peerId, node, String(this.o.resumeWindowMs)],
        )) as string | null;
        if (raw) {
          const sessionId = (JSON.parse(raw) as Seat).session.sessionId;
          await redis.commands.pExpire(keys.session(sessionId), this.o.resumeWindowMs);
          this.watch(room);
        }
        continue;
      }
      await this.o.leave(room, peerId, 'timeout');
    }
  }

  /**
   * Redis is back after a loss (restarted without persistence, or a replica promoted that missed the last
   * writes): put back our members' seats and sessions from our own view (`REASSERT_SCRIPT` never takes a
   * seat from a newer session), so rooms converge to the connections that actually exist. Frames published
   * while a shard channel had no subscriber went to mailboxes: hand them to our attached members now and
   * twice more while the client re-subscribes (a bounded number of passes, one script per member each).
   */
  private async reassert(): Promise<void> {
    const { redis, keys, local } = this.o;
    if (local.size === 0 || this.closed) return;
    this.o.log.info({ members: local.size }, 'redis ready again: re-asserting presence');
    try {
      await Promise.all(
        local.entries().map(async ([peerId, { room, seat }]) => {
          const ours = await redis.run(
            REASSERT_SCRIPT,
            [keys.seats(room), keys.nodes(room), keys.alive(room, peerId)],
            [
              peerId,
              JSON.stringify(seat),
              this.o.nodeId,
              seat.session.sessionId,
              String(this.o.presenceTtlMs),
            ],
          );
          if (ours === 1)
            await redis.commands.set(keys.session(seat.session.sessionId), JSON.stringify(seat.session), {
              PX: this.o.presenceTtlMs + this.o.resumeWindowMs,
            });
        }),
      );
    } catch (err) {
      this.o.log.warn({ err }, 're-asserting presence failed; the next maintenance retries');
    }
    for (const delayMs of [0, 500, 2000]) this.o.clock.setTimeout(() => void this.drainMailboxes(), delayMs);
  }

  /** Hand attached members (all, or `only` these) the frames queued for them while they were not routed here. */
  private async drainMailboxes(only?: string[]): Promise<void> {
    if (this.closed) return;
    const { redis, keys, local } = this.o;
    const wanted = only ? new Set(only) : null;
    await Promise.all(
      local.entries().map(async ([peerId, entry]) => {
        if (!entry.holder || (wanted && !wanted.has(peerId))) return;
        const queued = (await redis
          .run(TAKE_MAILBOX_SCRIPT, [keys.mailbox(entry.room, peerId)], [])
          .catch(() => [])) as string[];
        if (local.get(peerId) !== entry || !entry.holder) return;
        for (const packed of queued) {
          const frame = unpackFrame(packed);
          if (frame) deliverSafely(entry.holder, frame);
        }
      }),
    );
  }
}
