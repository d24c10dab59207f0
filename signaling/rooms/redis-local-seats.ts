/**
 * The seats this instance holds on the Redis bus, and its subscriptions that follow them: one owner for
 * "which members are attached here" and "which rooms' channels do we listen to". An instance listens on its
 * channel of a room (`{r<room>}:n:<node>`, `redis-keys.ts`) exactly while it holds members there; the
 * subscribe and unsubscribe calls of one room run one after the other, each deciding from the state when
 * it runs, so a join racing the last leave of a room ends subscribed.
 */
import type { Logger } from 'pino';
import type { Member } from '../protocol/index.js';
import type { Frame } from './frame.js';
import type { SeatHolder, SessionRecord } from './room-bus.js';

/** A seat as stored in the room's seats hash: what does not change while seated. */
export interface Seat {
  member: Member;
  session: SessionRecord;
  joinedAt: number;
}

export interface LocalSeat {
  room: string;
  seat: Seat;
  holder: SeatHolder | null;
  /** Frames that arrived between join and attach (attach flushes the mailbox first, then these). */
  pending: Frame[] | null;
}

interface RoomChannel {
  subscribed: boolean;
  chain: Promise<void>;
}

export interface ChannelControl {
  subscribe(room: string): Promise<void>;
  unsubscribe(room: string): Promise<void>;
  log: Logger;
}

export class LocalSeats {
  private readonly byPeer = new Map<string, LocalSeat>();
  private readonly byRoom = new Map<string, Set<string>>();
  private readonly channels = new Map<string, RoomChannel>();
  private closed = false;

  constructor(private readonly control: ChannelControl) {}

  get(peerId: string): LocalSeat | undefined {
    return this.byPeer.get(peerId);
  }

  has(peerId: string): boolean {
    return this.byPeer.has(peerId);
  }

  get size(): number {
    return this.byPeer.size;
  }

  entries(): Array<[string, LocalSeat]> {
    return [...this.byPeer];
  }

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  set(peerId: string, entry: LocalSeat): void {
    const previous = this.byPeer.get(peerId);
    if (previous && previous.room !== entry.room) this.delete(peerId);
    this.byPeer.set(peerId, entry);
    let peers = this.byRoom.get(entry.room);
    if (!peers) this.byRoom.set(entry.room, (peers = new Set()));
    peers.add(peerId);
  }

  delete(peerId: string): void {
    const entry = this.byPeer.get(peerId);
    if (!entry) return;
    this.byPeer.delete(peerId);
    const peers = this.byRoom.get(entry.room);
    peers?.delete(peerId);
    if (peers?.size === 0) {
      this.byRoom.delete(entry.room);
      // The last member here left: stop listening (a frame already on its way finds no one and is queued).
      this.listen(entry.room).catch((err: unknown) =>
        this.control.log.debug({ err, room: entry.room }, 'bus: unsubscribing a room failed'),
      );
    }
  }

  /** Put back what was there before a join that did not happen. */
  restore(peerId: string, previous: LocalSeat | undefined): void {
    if (previous) this.set(peerId, previous);
    else this.delete(peerId);
  }

  /** Bring the subscription to this instance's channel of `room` in line with whether it holds members. */
  listen(room: string): Promise<void> {
    let channel = this.channels.get(room);
    if (!channel) this.channels.set(room, (channel = { subscribed: false, chain: Promise.resolve() }));
    const state = channel;
    const step = state.chain.then(async () => {
      const wanted = this.byRoom.has(room) && !this.closed;
      if (wanted && !state.subscribed) {
        await this.control.subscribe(room);
        state.subscribed = true;
      } else if (!wanted && state.subscribed) {
        state.subscribed = false;
        await this.control.unsubscribe(room);
      }
      if (!state.subscribed && !this.byRoom.has(room) && this.channels.get(room) === state)
        this.channels.delete(room);
    });
    state.chain = step.catch(() => undefined);
    return step;
  }

  /** Forget everything (the bus is closing; its connections go with it). */
  clear(): void {
    this.closed = true;
    this.byPeer.clear();
    this.byRoom.clear();
    this.channels.clear();
  }
}
