/** The default bus: one process, plain Maps, delivery in call order. */
import type { Member, ServerMessage } from '../protocol/index.js';
import type { BusOptions, Deliver, JoinOutcome, LeaveReason, RoomBus, SessionRecord } from './room-bus.js';

interface Seat {
  member: Member;
  session: SessionRecord;
  deliver: Deliver | null;
  /** Messages held while not attached. */
  queue: ServerMessage[];
  /** Session expiry while suspended; Infinity while attached. */
  expiresAt: number;
}

export class MemoryBus implements RoomBus {
  readonly nodeId: string;
  /** room → (peerId → seat); Map order is join order. */
  private readonly rooms = new Map<string, Map<string, Seat>>();
  private readonly sessions = new Map<string, Seat>();
  private readonly now: () => number;

  constructor(private readonly options: BusOptions) {
    this.nodeId = options.nodeId;
    this.now = options.now ?? Date.now;
  }

  ready(): boolean {
    return true;
  }

  join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    let seats = this.rooms.get(room);
    const existing = seats?.get(member.peerId);
    if (!existing && seats && seats.size >= maxSize)
      return Promise.resolve({ ok: false, reason: 'room_full' });
    if (!seats) this.rooms.set(room, (seats = new Map<string, Seat>()));
    const others = [...seats.values()].filter((s) => s.member.peerId !== member.peerId).map((s) => s.member);
    if (existing) this.sessions.delete(existing.session.sessionId);
    const seat: Seat = { member, session, deliver: null, queue: existing?.queue ?? [], expiresAt: Infinity };
    seats.set(member.peerId, seat);
    this.sessions.set(session.sessionId, seat);
    if (!existing) this.fanOut(seats, { type: 'peer-joined', peer: member }, member.peerId);
    return Promise.resolve({ ok: true, members: others });
  }

  leave(room: string, peerId: string, reason: LeaveReason): Promise<boolean> {
    const seats = this.rooms.get(room);
    const seat = seats?.get(peerId);
    if (!seats || !seat || (reason === 'timeout' && seat.deliver)) return Promise.resolve(false);
    seats.delete(peerId);
    this.sessions.delete(seat.session.sessionId);
    if (seats.size === 0) this.rooms.delete(room);
    else this.fanOut(seats, { type: 'peer-left', peerId, reason });
    return Promise.resolve(true);
  }

  isMember(room: string, peerId: string): Promise<boolean> {
    return Promise.resolve(this.rooms.get(room)?.has(peerId) ?? false);
  }

  roomCount(): number {
    return this.rooms.size;
  }

  attach(room: string, peerId: string, deliver: Deliver): Promise<void> {
    const seat = this.rooms.get(room)?.get(peerId);
    if (seat) {
      seat.deliver = deliver;
      seat.expiresAt = Infinity;
      for (const message of seat.queue.splice(0)) deliver(message);
    }
    return Promise.resolve();
  }

  suspend(room: string, peerId: string): Promise<void> {
    const seat = this.rooms.get(room)?.get(peerId);
    if (seat) {
      seat.deliver = null;
      seat.expiresAt = this.now() + this.options.resumeWindowMs;
    }
    return Promise.resolve();
  }

  sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean> {
    const seat = this.rooms.get(room)?.get(peerId);
    if (!seat) return Promise.resolve(false);
    this.post(seat, message);
    return Promise.resolve(true);
  }

  broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void> {
    const seats = this.rooms.get(room);
    if (seats) this.fanOut(seats, message, exceptPeerId);
    return Promise.resolve();
  }

  takeSession(sessionId: string): Promise<SessionRecord | null> {
    const seat = this.sessions.get(sessionId);
    if (!seat || seat.expiresAt <= this.now()) return Promise.resolve(null);
    this.sessions.delete(sessionId);
    return Promise.resolve(seat.session);
  }

  close(): Promise<void> {
    this.rooms.clear();
    this.sessions.clear();
    return Promise.resolve();
  }

  private fanOut(seats: Map<string, Seat>, message: ServerMessage, exceptPeerId?: string): void {
    for (const seat of seats.values()) if (seat.member.peerId !== exceptPeerId) this.post(seat, message);
  }

  private post(seat: Seat, message: ServerMessage): void {
    if (seat.deliver) return seat.deliver(message);
    seat.queue.push(message);
    if (seat.queue.length > this.options.mailboxSize) seat.queue.shift();
  }
}
