/**
 * The relay's allocation table: every allocation by the client it belongs to, the counts the quotas are
 * judged on, and the Allocates still binding a port. The one owner of an allocation's end: expiry (checked
 * on every lookup, before the sweep reaches it), a Refresh to 0, a closed connection and the relay's close
 * all go through `remove`.
 */
import type { Allocation, ClientLink } from './allocation.js';

/** UDP clients of one listener, by address then port: looked up per packet without building a key. */
export type UdpClients = Map<string, Map<number, Allocation>>;

export class AllocationTable {
  private readonly udp = new Map<number, UdpClients>();
  private readonly streams = new Map<string, Allocation>();
  private readonly perUser = new Map<string, number>();
  /** Allocations of room-bound credentials, by room (room scope asks for a room's addresses). */
  private readonly perRoom = new Map<string, Set<Allocation>>();
  /** Allocates still binding a port, by link key, with their user: they count against the quotas. */
  private readonly pending = new Map<string, string>();
  private count = 0;

  constructor(
    private readonly now: () => number,
    /** Ports held under a RESERVATION-TOKEN, of one user or of everyone: they count too. */
    private readonly reserved: (userId?: string) => number,
    /** Called once for each allocation that ends, whatever ends it. */
    private readonly ended: (allocation: Allocation) => void = () => {},
  ) {}

  get size(): number {
    return this.count;
  }

  /** The UDP clients of one listener (made on first use); its datagram handler keeps the reference. */
  udpClients(listenerId: number): UdpClients {
    let clients = this.udp.get(listenerId);
    if (!clients) this.udp.set(listenerId, (clients = new Map<string, Map<number, Allocation>>()));
    return clients;
  }

  /**
   * The live allocation of this client. One past its lifetime is gone even before the sweep reaches it: a
   * Refresh must get 437 rather than bring it back (RFC 8656 §7.3), and nothing more is relayed for it.
   */
  find(link: ClientLink): Allocation | undefined {
    const found = link.stream
      ? this.streams.get(link.key)
      : this.udp.get(link.local.id)?.get(link.address)?.get(link.port);
    return this.live(found);
  }

  /** `allocation` unless it has expired, in which case it is removed. */
  live(allocation: Allocation | undefined): Allocation | undefined {
    if (allocation && allocation.expiresAt <= this.now()) {
      void this.remove(allocation);
      return undefined;
    }
    return allocation;
  }

  add(allocation: Allocation): void {
    const { client } = allocation;
    if (client.stream) this.streams.set(client.key, allocation);
    else {
      const clients = this.udpClients(client.local.id);
      let byPort = clients.get(client.address);
      if (!byPort) clients.set(client.address, (byPort = new Map<number, Allocation>()));
      byPort.set(client.port, allocation);
    }
    this.count++;
    this.perUser.set(allocation.userId, (this.perUser.get(allocation.userId) ?? 0) + 1);
    if (allocation.room !== undefined) {
      let ofRoom = this.perRoom.get(allocation.room);
      if (!ofRoom) this.perRoom.set(allocation.room, (ofRoom = new Set<Allocation>()));
      ofRoom.add(allocation);
    }
  }

  /** Take `allocation` out of the table and close it; a no-op for one already removed. */
  remove(allocation: Allocation): Promise<void> {
    const { client } = allocation;
    if (client.stream) {
      if (this.streams.get(client.key) !== allocation) return Promise.resolve();
      this.streams.delete(client.key);
    } else {
      const clients = this.udp.get(client.local.id);
      const byPort = clients?.get(client.address);
      if (byPort?.get(client.port) !== allocation) return Promise.resolve();
      byPort.delete(client.port);
      if (byPort.size === 0) clients!.delete(client.address);
    }
    this.count--;
    const left = (this.perUser.get(allocation.userId) ?? 1) - 1;
    if (left > 0) this.perUser.set(allocation.userId, left);
    else this.perUser.delete(allocation.userId);
    if (allocation.room !== undefined) {
      const ofRoom = this.perRoom.get(allocation.room);
      ofRoom?.delete(allocation);
      if (ofRoom?.size === 0) this.perRoom.delete(allocation.room);
    }
    this.ended(allocation);
    return allocation.close();
  }

  /** The allocation of a stream link, live or not (a closed connection takes it with it). */
  ofStream(link: ClientLink): Allocation | undefined {
    return this.streams.get(link.key);
  }

  isPending(link: ClientLink): boolean {
    return this.pending.has(link.key);
  }

  /** Mark an Allocate of `userId` as binding for this link until `done` settles. */
  track(link: ClientLink, userId: string, done: Promise<void>): void {
    this.pending.set(link.key, userId);
    void done.finally(() => this.pending.delete(link.key));
  }

  /** Allocations, reserved ports and Allocates still binding, of one user or of everyone. */
  load(userId?: string): number {
    if (userId === undefined) return this.count + this.pending.size + this.reserved();
    let pending = 0;
    for (const u of this.pending.values()) if (u === userId) pending++;
    return (this.perUser.get(userId) ?? 0) + pending + this.reserved(userId);
  }

  /** A snapshot of every allocation, UDP and streams. */
  all(): Allocation[] {
    const out = [...this.streams.values()];
    for (const clients of this.udp.values())
      for (const byPort of clients.values()) out.push(...byPort.values());
    return out;
  }

  /** The allocations of one user. */
  ofUser(userId: string): Allocation[] {
    if (!this.perUser.has(userId)) return [];
    return this.all().filter((a) => a.userId === userId);
  }

  /** The allocations of room-bound credentials of `room`. */
  ofRoom(room: string): ReadonlySet<Allocation> {
    return this.perRoom.get(room) ?? new Set();
  }

  /** Remove expired allocations; sweep the permissions and channels of the others. */
  sweep(now: number): void {
    for (const a of this.all()) {
      if (a.expiresAt <= now) void this.remove(a);
      else a.sweep(now);
    }
  }
}
