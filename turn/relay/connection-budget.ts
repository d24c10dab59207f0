/**
 * How many TURN-over-TCP/TLS connections the relay holds at once: in total, and per client source. One
 * budget is shared by every stream listener (TCP and TLS, on every local address), so the caps bound the
 * process's sockets whichever port a client picks. A connection counts from accept, before its TLS
 * handshake: handshakes cost memory and CPU too.
 *
 * Without the per-source cap one client address could hold every slot (a Binding every 29 s keeps an
 * unallocated connection past the idle close) and the next client would be closed unanswered.
 */
import { isIPv4 } from 'node:net';
import { ipBytes } from '../ip.js';

/** Why a connection was refused: the relay's total cap, or its source's share. */
export type RefusedBy = 'total' | 'per_address';

/**
 * The key a connection is counted under. IPv4 (and IPv4-mapped IPv6) by address. IPv6 by its /64: a
 * client is handed a whole /64 by its network (SLAAC, privacy addresses), so a cap per /128 would cost it
 * nothing to get around, while two unrelated clients rarely share a /64.
 */
export function sourceKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(address)) return address;
  const bytes = ipBytes(address);
  return bytes ? `${bytes.subarray(0, 8).toString('hex')}::/64` : address;
}

export class ConnectionBudget {
  private used = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    /** Connections open at once, all sources together; more are refused. */
    readonly max: number,
    /** Connections open at once from one source (see {@link sourceKey}); default: no cap beyond `max`. */
    readonly perAddress: number = max,
  ) {}

  /** Take one for a connection from `address`; the reason when none is left for it. */
  take(address: string): true | RefusedBy {
    if (this.used >= this.max) return 'total';
    const key = sourceKey(address);
    const held = this.bySource.get(key) ?? 0;
    if (held >= this.perAddress) return 'per_address';
    this.bySource.set(key, held + 1);
    this.used++;
    return true;
  }

  /** Give back what `take(address)` took; forgetting a source once it holds nothing bounds the map. */
  release(address: string): void {
    const key = sourceKey(address);
    const held = this.bySource.get(key);
    if (held === undefined) return;
    if (held > 1) this.bySource.set(key, held - 1);
    else this.bySource.delete(key);
    this.used--;
  }

  get open(): number {
    return this.used;
  }

  /** Connections open from the source of `address`. */
  heldBy(address: string): number {
    return this.bySource.get(sourceKey(address)) ?? 0;
  }
}
