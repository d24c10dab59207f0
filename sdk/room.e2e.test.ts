/** Real WebRTC (@roamhq/wrtc) between SDK rooms through a real signaling server on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom } from '../test-support/sdk-rooms.js';

let sig: RunningSignaling | undefined;
const rooms: TestRoom[] = [];
afterEach(async () => {
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  sig = undefined;
});

describe('SDK room', () => {
  it('two peers connect directly and exchange reliable and unreliable data, strings and binary', async () => {
    sig = await startSignaling();
    const a = await joinRoom(sig, 'alice', 'call');
    const b = await joinRoom(sig, 'bob', 'call');
    rooms.push(a, b);
    expect(b.room.peers().map((p) => p.peerId)).toEqual([a.room.peerId]);
    await expect.poll(() => a.room.peers().length).toBe(1);
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    expect(a.room.peer(b.room.peerId)?.path).toBe('direct');

    a.room.send('hello', { to: b.room.peerId });
    b.room.send(new Uint8Array([1, 2, 3]), { channel: 'bin' });
    await expect.poll(() => b.reliableFrom(a.room.peerId)).toEqual(['hello']);
    await expect
      .poll(() => a.received.find((d) => d.channel === 'bin')?.data)
      .toEqual(new Uint8Array([1, 2, 3]));

    // Unreliable: may drop in principle; on loopback some of a burst arrives.
    await expect
      .poll(() => {
        a.room.send('u', { reliable: false, channel: 'game' });
        return b.received.some((d) => !d.reliable && d.channel === 'game' && d.data === 'u');
      })
      .toBe(true);
    expect(b.errors).toEqual([]);
  }, 60_000);
});
