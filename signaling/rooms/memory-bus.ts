/** The default bus: one process, plain Maps, delivery in call order. */
import type { Member, ServerMessage } from '../protocol/index.js';
import type { Deliver, JoinOutcome, RoomBus, SessionRecord } from './room-bus.js';

interface Mailbox {
  deliver: Deliver | null;
  queue: ServerMessage[];
  maxQueued: number;
}

export class MemoryBus implements RoomBus {
  /** room → (peerId → member), Map order is join order. */
  private readonly rooms = new Map<string, Map<string, Member>>();
  private readonly mailboxes = new Map<string, Mailbox>();
  private readonly sessions = new Map<string, { record: SessionRecord; expiresAt: number }>();

  constructor(
    readonly nodeId: string,
    private readonly now: () => number = Date.now,
  ) {}

  ready(): boolean {
    return true;
  }

  join(room: string, member: Member, maxSize: number): Promise<JoinOutcome> {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map<string, Member>()));
    const others = [...members.values()].filter((m) => m.peerId !== member.peerId);
    if (!members.has(member.peerId) && members.size >= maxSize) {
      if (members.size === 0) this.rooms.delete(room);
      return Promise.resolve({ ok: false, reason: 'room_full' });
    }
    const rejoin = members.has(member.peerId);
    members.set(member.peerId, member);
    if (!rejoin) this.fanOut(members, { type: 'peer-joined', peer: member }, member.peerId);
    return Promise.resolve({ ok: true, members: others });
  }

  leave(
    room: string,
    peerId: string,
    reason: 'left' | 'disconnected' | 'timeout' | 'kicked',
  ): Promise<boolean> {
    const members = this.rooms.get(room);
    if (!members?.delete(peerId)) return Promise.resolve(false);
    if (members.size === 0) this.rooms.delete(room);
    else this.fanOut(members, { type: 'peer-left', peerId, reason });
    return Promise.resolve(true);
  }

  isMember(room: string, peerId: string): Promise<boolean> {
    return Promise.resolve(this.rooms.get(room)?.has(peerId) ?? false);
  }

  roomCount(): number {
    return this.rooms.size;
  }

  attach(peerId: string, deliver: Deliver): void {
    const box = this.mailboxes.get(peerId);
    if (!box) {
      this.mailboxes.set(peerId, { deliver, queue: [], maxQueued: 0 });
      return;
    }
    box.deliver = deliver;
    const queued = box.queue.splice(0);
    for (const message of queued) deliver(message);
  }

  suspend(peerId: string, maxQueued: number): void {
    const box = this.mailboxes.get(peerId);
    if (box) {
      box.deliver = null;
      box.maxQueued = maxQueued;
    } else this.mailboxes.set(peerId, { deliver: null, queue: [], maxQueued });
  }

  detach(peerId: string): void {
    this.mailboxes.delete(peerId);
  }

  sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean> {
    if (!this.rooms.get(room)?.has(peerId)) return Promise.resolve(false);
    this.post(peerId, message);
    return Promise.resolve(true);
  }

  broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void> {
    const members = this.rooms.get(room);
    if (members) this.fanOut(members, message, exceptPeerId);
    return Promise.resolve();
  }

  saveSession(record: SessionRecord, ttlMs: number): Promise<void> {
    this.sweepSessions();
    this.sessions.set(record.sessionId, { record, expiresAt: this.now() + ttlMs });
    return Promise.resolve();
  }

  takeSession(sessionId: string): Promise<SessionRecord | null> {
    const entry = this.sessions.get(sessionId);
    this.sessions.delete(sessionId);
    return Promise.resolve(entry && entry.expiresAt > this.now() ? entry.record : null);
  }

  close(): Promise<void> {
    this.rooms.clear();
    this.mailboxes.clear();
    this.sessions.clear();
    return Promise.resolve();
  }

  private fanOut(members: Map<string, Member>, message: ServerMessage, exceptPeerId?: string): void {
    for (const id of members.keys()) if (id !== exceptPeerId) this.post(id, message);
  }

  private post(peerId: string, message: ServerMessage): void {
    const box = this.mailboxes.get(peerId);
    if (!box) return;
    if (box.deliver) {
      box.deliver(message);
      return;
    }
    box.queue.push(message);
    if (box.queue.length > box.maxQueued) box.queue.shift();
  }

  private sweepSessions(): void {
    const now = this.now();
    for (const [id, entry] of this.sessions) if (entry.expiresAt <= now) this.sessions.delete(id);
  }
}
