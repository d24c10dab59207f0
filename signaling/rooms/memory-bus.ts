/** The default bus: one process, plain Maps, delivery in call order. */
import type { Member } from '../protocol/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { Frame } from './frame.js';
import {
  deliverSafely,
  memberUpdatedFrame,
  peerJoinedFrame,
  peerLeftFrame,
  type BusOptions,
  type JoinOutcome,
  type LeaveReason,
  type Revocation,
  type RoomBus,
  type SeatHolder,
  type SeatInfo,
  type SessionRecord,
} from './room-bus.js';

interface Seat {
  member: Member;
  session: SessionRecord;
  joinedAt: number;
  /** The connection holding the seat; null while suspended (or joined and not yet attached). */
  holder: SeatHolder | null;
  /** Frames held while not attached. */
  queue: Frame[];
  /** While suspended: the timer that ends the seat when the resume window passes. */
  expiry: unknown;
}

export class MemoryBus implements RoomBus {
  readonly nodeId: string;
  /** room → (peerId → seat); Map order is join order. */
  private readonly seatsByRoom = new Map<string, Map<string, Seat>>();
  private readonly sessions = new Map<string, Seat>();
  private readonly revoked = new Map<string, Revocation>();
  private readonly revokedHandlers: Array<(r: Revocation) => void> = [];
  private readonly clock: Clock;

  constructor(private readonly options: BusOptions) {
    this.nodeId = options.nodeId;
    this.clock = options.clock ?? systemClock;
  }

  ready(): boolean {
    return true;
  }

  join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    let seats = this.seatsByRoom.get(room);
    const existing = seats?.get(member.peerId);
    if (!existing && seats && seats.size >= maxSize)
      return Promise.resolve({ ok: false, reason: 'room_full' });
    if (!seats) this.seatsByRoom.set(room, (seats = new Map<string, Seat>()));
    const others = [...seats.values()].filter((s) => s.member.peerId !== member.peerId).map((s) => s.member);
    const seat: Seat = {
      member,
      session,
      joinedAt: existing?.joinedAt ?? this.clock.now(),
      holder: null,
      queue: existing?.queue ?? [],
      expiry: null,
    };
    seats.set(member.peerId, seat);
    this.sessions.set(session.sessionId, seat);
    if (existing) {
      this.sessions.delete(existing.session.sessionId);
      this.clock.clearTimeout(existing.expiry);
      existing.holder?.evicted('replaced');
    } else {
      this.fanOut(seats, peerJoinedFrame(member), member.peerId);
    }
    return Promise.resolve({ ok: true, members: others });
  }

  leave(room: string, peerId: string, reason: LeaveReason, sessionId?: string): Promise<boolean> {
    const seats = this.seatsByRoom.get(room);
    const seat = seats?.get(peerId);
    if (!seats || !seat) return Promise.resolve(false);
    if (sessionId !== undefined && seat.session.sessionId !== sessionId) return Promise.resolve(false);
    if (reason === 'timeout' && seat.holder) return Promise.resolve(false);
    seats.delete(peerId);
    this.sessions.delete(seat.session.sessionId);
    this.clock.clearTimeout(seat.expiry);
    if (seats.size === 0) this.seatsByRoom.delete(room);
    else this.fanOut(seats, peerLeftFrame(peerId, reason));
    if (reason === 'kicked') seat.holder?.evicted('kicked');
    return Promise.resolve(true);
  }

  isMember(room: string, peerId: string): Promise<boolean> {
    return Promise.resolve(this.seatsByRoom.get(room)?.has(peerId) ?? false);
  }

  roomCount(): number {
    return this.seatsByRoom.size;
  }

  attach(room: string, peerId: string, sessionId: string, holder: SeatHolder): Promise<void> {
    const seat = this.seatsByRoom.get(room)?.get(peerId);
    if (seat?.session.sessionId !== sessionId) return Promise.resolve();
    seat.holder = holder;
    this.clock.clearTimeout(seat.expiry);
    seat.expiry = null;
    // One frame that cannot be delivered never costs the others.
    for (const frame of seat.queue.splice(0)) deliverSafely(holder, frame);
    return Promise.resolve();
  }

  suspend(room: string, peerId: string, sessionId: string): Promise<void> {
    const seat = this.seatsByRoom.get(room)?.get(peerId);
    if (seat?.session.sessionId !== sessionId) return Promise.resolve();
    seat.holder = null;
    this.clock.clearTimeout(seat.expiry);
    seat.expiry = this.clock.setTimeout(() => {
      void this.leave(room, peerId, 'timeout', sessionId);
    }, this.options.resumeWindowMs);
    return Promise.resolve();
  }

  updateMember(
    room: string,
    peerId: string,
    sessionId: string,
    meta: Member['meta'],
  ): Promise<Member | null> {
    const seats = this.seatsByRoom.get(room);
    const seat = seats?.get(peerId);
    if (!seats || seat?.session.sessionId !== sessionId) return Promise.resolve(null);
    seat.member = { ...seat.member, meta };
    seat.session = { ...seat.session, meta };
    this.sessions.set(sessionId, seat);
    this.fanOut(seats, memberUpdatedFrame(seat.member), peerId);
    return Promise.resolve(seat.member);
  }

  sendTo(room: string, peerId: string, frame: Frame): Promise<boolean> {
    const seat = this.seatsByRoom.get(room)?.get(peerId);
    if (!seat) return Promise.resolve(false);
    this.post(seat, frame);
    return Promise.resolve(true);
  }

  broadcast(room: string, frame: Frame, exceptPeerId?: string): Promise<void> {
    const seats = this.seatsByRoom.get(room);
    if (seats) this.fanOut(seats, frame, exceptPeerId);
    return Promise.resolve();
  }

  takeSession(sessionId: string): Promise<SessionRecord | null> {
    const seat = this.sessions.get(sessionId);
    // A seat whose holder is gone and whose window passed has already been removed by its timer.
    if (!seat) return Promise.resolve(null);
    this.sessions.delete(sessionId);
    return Promise.resolve(seat.session);
  }

  rooms(): Promise<string[]> {
    return Promise.resolve([...this.seatsByRoom.keys()]);
  }

  members(room: string): Promise<SeatInfo[]> {
    const seats = this.seatsByRoom.get(room);
    return Promise.resolve(
      [...(seats?.values() ?? [])].map((s) => ({
        member: s.member,
        node: s.holder ? this.nodeId : '',
        joinedAt: s.joinedAt,
      })),
    );
  }

  revoke(revocation: Revocation): Promise<void> {
    this.revoked.set(revocation.userId, revocation);
    for (const handler of this.revokedHandlers) handler(revocation);
    return Promise.resolve();
  }

  revocations(): Promise<Revocation[]> {
    const nowSec = this.clock.now() / 1000;
    for (const [user, r] of this.revoked) if (r.until <= nowSec) this.revoked.delete(user);
    return Promise.resolve([...this.revoked.values()]);
  }

  onRevoked(handler: (revocation: Revocation) => void): void {
    this.revokedHandlers.push(handler);
  }

  close(): Promise<void> {
    for (const seats of this.seatsByRoom.values())
      for (const seat of seats.values()) this.clock.clearTimeout(seat.expiry);
    this.seatsByRoom.clear();
    this.sessions.clear();
    return Promise.resolve();
  }

  private fanOut(seats: Map<string, Seat>, frame: Frame, exceptPeerId?: string): void {
    for (const seat of seats.values()) if (seat.member.peerId !== exceptPeerId) this.post(seat, frame);
  }

  private post(seat: Seat, frame: Frame): void {
    if (seat.holder) return deliverSafely(seat.holder, frame);
    seat.queue.push(frame);
    if (seat.queue.length > this.options.mailboxSize) seat.queue.shift();
  }
}
