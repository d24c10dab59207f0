/** A mesh of four SDK rooms: every pair links up, reliable and unreliable data reach everyone. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';

useGenerousPolls();
let sig: RunningSignaling | undefined;
const rooms: TestRoom[] = [];
afterEach(async () => {
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  sig = undefined;
});

describe('mesh of 4', () => {
  it('connects every pair and carries reliable and unreliable data between all', async () => {
    sig = await startSignaling();
    for (const user of ['u1', 'u2', 'u3', 'u4']) rooms.push(await joinRoom(sig, user, 'mesh'));
    const ids = rooms.map((r) => r.room.peerId);
    for (const r of rooms) {
      await expect.poll(() => r.room.peers().length).toBe(3);
      await Promise.all(ids.filter((id) => id !== r.room.peerId).map((id) => p2pTo(r.room, id)));
    }
    for (const r of rooms) {
      for (let i = 0; i < 5; i++) r.room.send(`${r.user}-${i}`, { channel: 'chat' });
    }
    for (const r of rooms) {
      for (const other of rooms) {
        if (other === r) continue;
        await expect
          .poll(() => r.reliableFrom(other.room.peerId, 'chat'))
          .toEqual([0, 1, 2, 3, 4].map((i) => `${other.user}-${i}`));
      }
    }
    // Unreliable to all: keep sending until every peer has heard from every other one.
    const heardAll = () =>
      rooms.every((r) =>
        rooms.every((o) => o === r || r.received.some((d) => !d.reliable && d.from === o.room.peerId)),
      );
    await expect
      .poll(() => {
        for (const r of rooms) r.room.send(`tick-${r.user}`, { reliable: false });
        return heardAll();
      })
      .toBe(true);
    for (const r of rooms) expect(r.errors).toEqual([]);
  }, 90_000);
});
