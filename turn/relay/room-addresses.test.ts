/** Announced room addresses: one key per address, and every bound (age, per room, rooms, waits) held. */
import { describe, expect, it } from 'vitest';
import { RoomAddresses, addressKey } from './room-addresses.js';

function table(o: Partial<ConstructorParameters<typeof RoomAddresses>[0]> = {}) {
  let now = 1_000_000;
  const addresses = new RoomAddresses({
    ttlMs: 60_000,
    maxPerRoom: 3,
    maxRooms: 2,
    maxWaits: 1,
    now: () => now,
    ...o,
  });
  return { addresses, advance: (ms: number) => (now += ms), now: () => now };
}

describe('RoomAddresses', () => {
  it('keys an address the same whatever its spelling', () => {
    expect(addressKey('127.0.0.5')).toBe(addressKey('::ffff:127.0.0.5'));
    expect(addressKey('2001:db8::1')).toBe(addressKey('2001:DB8:0:0:0:0:0:1'));
    expect(addressKey('host.local')).toBeNull();
  });

  it('forgets an address its ttl after the last announcement', () => {
    const { addresses, advance, now } = table();
    addresses.announce('r', ['10.0.0.1']);
    advance(50_000);
    addresses.announce('r', ['10.0.0.1']); // refreshed
    advance(50_000);
    expect(addresses.has('r', '10.0.0.1')).toBe(true);
    advance(10_001);
    expect(addresses.has('r', '10.0.0.1')).toBe(false);
    addresses.sweep(now());
    expect(addresses.size).toBe(0);
  });

  it('keeps the latest addresses of a room and the latest rooms', () => {
    const { addresses } = table();
    addresses.announce('r', ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', 'not-an-ip']);
    expect(addresses.has('r', '10.0.0.1')).toBe(false);
    expect(addresses.has('r', '10.0.0.4')).toBe(true);
    expect(addresses.size).toBe(3);
    addresses.announce('s', ['10.0.1.1']);
    addresses.announce('t', ['10.0.2.1']);
    expect(addresses.has('r', '10.0.0.4')).toBe(false); // the room announced longest ago went
    expect(addresses.has('s', '10.0.1.1') && addresses.has('t', '10.0.2.1')).toBe(true);
  });

  it('ends a wait on the announcement it needs, bounds waits in number, and ends them all on close', async () => {
    const { addresses } = table();
    const first = addresses.wait('r', () => addresses.has('r', '10.0.0.9'), 60_000);
    expect(await addresses.wait('r', () => true, 60_000)).toBe(false); // over maxWaits: no wait
    addresses.announce('other', ['10.0.0.9']);
    expect(addresses.waiting).toBe(1);
    addresses.announce('r', ['10.0.0.9']);
    expect(await first).toBe(true);
    const second = addresses.wait('r', () => false, 60_000);
    addresses.close();
    expect(await second).toBe(false);
    expect(addresses.waiting).toBe(0);
  });
});
