/** Media through the SDK: a published video track arrives with frames, and a track added mid-call too. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { countFrames, fakeCamera, type FakeCamera } from '../test-support/sdk-media.js';
import type { RoomEvents } from './room.js';

useGenerousPolls();
let sig: RunningSignaling | undefined;
const rooms: TestRoom[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  cleanups.splice(0).forEach((c) => c());
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  sig = undefined;
});

function camera(): FakeCamera {
  const c = fakeCamera();
  cleanups.push(() => c.stop());
  return c;
}

function tracksOf(r: TestRoom): RoomEvents['track'][] {
  const out: RoomEvents['track'][] = [];
  r.room.on('track', (t) => out.push(t));
  return out;
}

describe('media', () => {
  it('a published video track arrives with frames; tracks added mid-call by either side arrive too', async () => {
    sig = await startSignaling();
    const a = await joinRoom(sig, 'alice', 'video');
    const cam = camera();
    a.room.publish(cam.stream); // published before the peer is there: the new link carries it
    const b = await joinRoom(sig, 'bob', 'video');
    rooms.push(a, b);
    const atB = tracksOf(b);
    const atA = tracksOf(a);
    await p2pTo(b.room, a.room.peerId);

    await expect.poll(() => atB.length, { timeout: 20_000 }).toBe(1);
    const first = countFrames(atB[0]!.track);
    cleanups.push(() => first.stop());
    await expect.poll(first.frames, { timeout: 20_000 }).toBeGreaterThan(5);

    // Screen share mid-call from a; then b publishes too. The link is renegotiated, never replaced.
    const screen = camera();
    a.room.publishTrack(screen.track, screen.stream);
    await expect.poll(() => atB.length, { timeout: 20_000 }).toBe(2);
    const second = countFrames(atB[1]!.track);
    cleanups.push(() => second.stop());
    await expect.poll(second.frames, { timeout: 20_000 }).toBeGreaterThan(5);

    // Stop the screen share: renegotiated away on the same link (b hears `track-removed`); the camera
    // keeps running.
    const failures: string[] = [];
    a.room.on('link', (e) => e.kind === 'failed' && failures.push(e.reason));
    const removed = b.room.next('track-removed');
    a.room.unpublishTrack(screen.track, screen.stream);
    expect((await removed).track).toBe(atB[1]!.track);
    const before = first.frames();
    await expect.poll(first.frames).toBeGreaterThan(before + 5);

    // Switch the camera without renegotiating: b keeps the same remote track, and frames keep coming.
    const other = camera();
    await a.room.replaceTrack(cam.track, other.track);
    cam.stop();
    const afterSwitch = first.frames();
    await expect.poll(first.frames).toBeGreaterThan(afterSwitch + 5);
    expect(atB).toHaveLength(2);

    const bobCam = camera();
    b.room.publish(bobCam.stream);
    await expect.poll(() => atA.length, { timeout: 20_000 }).toBe(1);
    const third = countFrames(atA[0]!.track);
    cleanups.push(() => third.stop());
    await expect.poll(third.frames, { timeout: 20_000 }).toBeGreaterThan(5);

    // Data still flows on the same link, and no link failed along the way.
    a.room.send('still here', { to: b.room.peerId });
    await expect.poll(() => b.reliableFrom(a.room.peerId)).toEqual(['still here']);
    expect([...a.errors, ...b.errors]).toEqual([]);
    expect(failures).toEqual([]);

    // Bob leaves: his track's link is gone, and Alice hears of it.
    const ended = a.room.next('track-ended');
    await b.room.close();
    expect((await ended).track).toBe(atA[0]!.track);
  }, 120_000);
});
