/**
 * The peer addresses each room has announced to the relay (RelayControl.announceRoomAddresses, fed by
 * signaling from the candidates it relays): the one owner of what a room-scoped allocation may be
 * permitted toward, besides the allocations of its own room. Memory is bounded three ways: an announced
 * address lives `ttlMs` after its last announcement, a room keeps its `maxPerRoom` latest addresses, and
 * the relay keeps its `maxRooms` latest announced rooms. A CreatePermission that races the announcement
 * it needs waits here, bounded in time and in number.
 */
import { ipBytes } from '../ip.js';

/** One key per address whatever its spelling: IPv4 and its IPv4-mapped IPv6 form are the same peer. */
export function addressKey(address: string): string | null {
  return ipBytes(address)?.toString('hex') ?? null;
}

export interface RoomAddressesOptions {
  /** An announced address is forgotten this long after its last announcement, ms. */
  ttlMs: number;
  /** Addresses kept per room; the oldest announced goes first. */
  maxPerRoom: number;
  /** Rooms kept; the room announced longest ago goes first. */
  maxRooms: number;
  /** Waits in progress at once, across rooms; past it a request is answered without waiting. */
  maxWaits: number;
  now: () => number;
}

interface Waiter {
  room: string;
  ready: () => boolean;
  done: (ready: boolean) => void;
  timer: NodeJS.Timeout;
}

export class RoomAddresses {
  /** Room → address key → expiry (ms); Maps keep insertion order, so the first entry is the oldest. */
  private readonly rooms = new Map<string, Map<string, number>>();
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly o: RoomAddressesOptions) {}

  /** Record (or refresh) addresses of `room`'s peers; entries that are not IP literals are ignored. */
  announce(room: string, addresses: readonly string[]): void {
    let known = this.rooms.get(room);
    if (known) this.rooms.delete(room); // re-inserted below as the most recent room
    known ??= new Map<string, number>();
    this.rooms.set(room, known);
    const until = this.o.now() + this.o.ttlMs;
    for (const address of addresses) {
      const key = addressKey(address);
      if (key === null) continue;
      known.delete(key);
      known.set(key, until);
      if (known.size > this.o.maxPerRoom) known.delete(known.keys().next().value!);
    }
    if (known.size === 0) this.rooms.delete(room);
    while (this.rooms.size > this.o.maxRooms) this.rooms.delete(this.rooms.keys().next().value!);
    for (const w of this.waiters) if (w.room === room && w.ready()) this.finish(w, true);
  }

  /** Whether `room` announced `address` and the announcement is still fresh. */
  has(room: string, address: string): boolean {
    const key = addressKey(address);
    const until = key === null ? undefined : this.rooms.get(room)?.get(key);
    return until !== undefined && until > this.o.now();
  }

  /**
   * Resolve true as soon as an announcement of `room` makes `ready()` true, false after `timeoutMs` (or
   * at once when too many waits are in progress, or on close). The caller checks again either way.
   */
  wait(room: string, ready: () => boolean, timeoutMs: number): Promise<boolean> {
    if (this.waiters.size >= this.o.maxWaits || timeoutMs <= 0) return Promise.resolve(false);
    return new Promise((done) => {
      const w: Waiter = { room, ready, done, timer: setTimeout(() => this.finish(w, false), timeoutMs) };
      this.waiters.add(w);
    });
  }

  /** Waits in progress. */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Addresses held, all rooms together. */
  get size(): number {
    let n = 0;
    for (const known of this.rooms.values()) n += known.size;
    return n;
  }

  /** Forget addresses whose announcement has expired, and rooms left with none. */
  sweep(now: number): void {
    for (const [room, known] of this.rooms) {
      for (const [key, until] of known) if (until <= now) known.delete(key);
      if (known.size === 0) this.rooms.delete(room);
    }
  }

  /** Idempotent: ends every wait (answered as not announced) and forgets everything. */
  close(): void {
    for (const w of this.waiters) this.finish(w, false);
    this.rooms.clear();
  }

  private finish(w: Waiter, ready: boolean): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.done(ready);
  }
}
