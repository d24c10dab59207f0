/**
 * Room scope: the relay is not an open proxy for whoever holds a credential. A credential bound to a room
 * (rest-credentials.ts) makes a room-scoped allocation, and such an allocation is granted permissions
 * (CreatePermission, ChannelBind) only toward
 *   (a) addresses that peers of its room announced (room-addresses.ts, fed by signaling), or
 *   (b) the client source addresses and relayed addresses of allocations of the same room on this relay
 *       (two relay-only peers of one call reach each other this way with no announcement at all).
 * A permission the allocation already holds may always be refreshed. Anything else gets 403.
 *
 * Modes: 'off' checks nothing; 'on' scopes room-bound credentials and leaves unscoped ones (the plain
 * "<expiry>:<user>" that turnutils_uclient -W and the HTTP credentials route make) as they were, so tools
 * and older clients keep working; 'strict' also refuses an Allocate with an unscoped credential (403).
 */
import type { Allocation } from './allocation.js';
import type { AllocationTable } from './allocation-table.js';
import { addressKey, type RoomAddresses } from './room-addresses.js';

export type RoomScopeMode = 'off' | 'on' | 'strict';

export interface RoomScopeOptions {
  mode: RoomScopeMode;
  /** How long a permission toward a not-yet-announced address waits for its announcement, ms. */
  waitMs: number;
  addresses: RoomAddresses;
  table: AllocationTable;
  now: () => number;
}

export class RoomScope {
  constructor(private readonly o: RoomScopeOptions) {}

  get mode(): RoomScopeMode {
    return this.o.mode;
  }

  /** Whether an Allocate with a credential of this room (undefined: unscoped) may go on. */
  admits(room: string | undefined): boolean {
    return this.o.mode !== 'strict' || room !== undefined;
  }

  /** Whether `allocation` may be permitted toward every one of `peers` (IP addresses) now. */
  allowsNow(allocation: Allocation, peers: readonly string[]): boolean {
    const { room } = allocation;
    if (this.o.mode === 'off' || room === undefined) return true;
    const now = this.o.now();
    let ofRoom: Set<string> | undefined;
    for (const peer of peers) {
      if (allocation.hasPermission(peer, now) || this.o.addresses.has(room, peer)) continue;
      ofRoom ??= this.roomAllocationAddresses(room);
      const key = addressKey(peer);
      if (key === null || !ofRoom.has(key)) return false;
    }
    return true;
  }

  /**
   * Whether `allocation` may be permitted toward `peers`, waiting up to `waitMs` for an announcement that
   * races the request (a candidate relayed to the peer before signaling told the relay about it).
   */
  async allows(allocation: Allocation, peers: readonly string[]): Promise<boolean> {
    if (this.allowsNow(allocation, peers)) return true;
    const room = allocation.room!;
    await this.o.addresses.wait(room, () => this.allowsNow(allocation, peers), this.o.waitMs);
    return this.allowsNow(allocation, peers);
  }

  /** Client source and relayed addresses (advertised and local) of the room's allocations, as keys. */
  private roomAllocationAddresses(room: string): Set<string> {
    const out = new Set<string>();
    const add = (address: string) => {
      const key = addressKey(address);
      if (key !== null) out.add(key);
    };
    for (const a of this.o.table.ofRoom(room)) {
      add(a.client.address);
      for (const r of a.relays) {
        add(r.relayed.address);
        add(r.socket.address().address);
      }
    }
    return out;
  }
}
