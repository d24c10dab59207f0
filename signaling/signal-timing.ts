/**
 * Signal relay latency without touching the dispatcher: each valid frame is dispatched inside an async
 * context that carries its arrival time, and the room bus is wrapped so that a `signal` handed to
 * `sendTo` observes (hand-over − arrival) when the bus has delivered it (in memory: written to the
 * recipient's socket; on Redis: published). The context follows the dispatcher's per-connection promise
 * chain, so the queue behind the sender's earlier messages is included, as a client would feel it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Histogram } from 'prom-client';
import type { Member, ServerMessage } from './protocol/index.js';
import type { Deliver, JoinOutcome, LeaveReason, RoomBus, SessionRecord } from './rooms/room-bus.js';

const arrival = new AsyncLocalStorage<number>();

/** Run `handle` (the dispatch of one frame) with its arrival time, `performance.now()` ms, in scope. */
export function withArrival(arrivedAt: number, handle: () => void): void {
  arrival.run(arrivedAt, handle);
}

/** `bus` as it is, but every signal it relays is timed into `histogram` (seconds). */
export class SignalTimingBus implements RoomBus {
  constructor(
    private readonly bus: RoomBus,
    private readonly histogram: Histogram,
  ) {}

  get nodeId(): string {
    return this.bus.nodeId;
  }

  async sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean> {
    const arrivedAt = message.type === 'signal' ? arrival.getStore() : undefined;
    const delivered = await this.bus.sendTo(room, peerId, message);
    if (arrivedAt !== undefined && delivered) this.histogram.observe((performance.now() - arrivedAt) / 1000);
    return delivered;
  }

  ready(): boolean {
    return this.bus.ready();
  }
  join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome> {
    return this.bus.join(room, member, maxSize, session);
  }
  leave(room: string, peerId: string, reason: LeaveReason): Promise<boolean> {
    return this.bus.leave(room, peerId, reason);
  }
  isMember(room: string, peerId: string): Promise<boolean> {
    return this.bus.isMember(room, peerId);
  }
  roomCount(): number {
    return this.bus.roomCount();
  }
  attach(room: string, peerId: string, deliver: Deliver): Promise<void> {
    return this.bus.attach(room, peerId, deliver);
  }
  suspend(room: string, peerId: string): Promise<void> {
    return this.bus.suspend(room, peerId);
  }
  broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void> {
    return this.bus.broadcast(room, message, exceptPeerId);
  }
  takeSession(sessionId: string): Promise<SessionRecord | null> {
    return this.bus.takeSession(sessionId);
  }
  close(): Promise<void> {
    return this.bus.close();
  }
}
