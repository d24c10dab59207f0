/**
 * Signaling goes away mid-call; peer links keep carrying data and media, and the SDK comes back:
 * - a dropped socket (server stays up): the session resumes with the same peer id;
 * - a server restart on the same port (sessions lost): the SDK joins afresh, peers recognise each other
 *   by SDK instance and keep their links under the new ids.
 * In both, a renegotiation (adding a video track) afterwards works.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import {
  dropAllSignalingConnections,
  joinRoom,
  p2pTo,
  type TestRoom,
  useGenerousPolls,
} from '../test-support/sdk-rooms.js';
import { countFrames, fakeCamera } from '../test-support/sdk-media.js';
import type { ReconnectPolicy } from './signaling/reconnect-policy.js';
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

/** A fixed, visible gap before each attempt, so the test can observe traffic while signaling is down. */
const slowPolicy = (delayMs: number): ReconnectPolicy => ({
  nextDelayMs: ({ attempt }) => (attempt > 200 ? null : delayMs),
});

function pump(from: TestRoom, to: () => string, label: string, everyMs: number) {
  let i = 0;
  const t = setInterval(() => from.room.send(`${label}-${i++}`, { to: to(), channel: 'seq' }), everyMs);
  cleanups.push(() => clearInterval(t));
  return { sent: () => i, stop: () => clearInterval(t) };
}
const upTo = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}-${i}`);

/** Reliable strings on channel `seq` from any of the peer's ids. */
const seqFrom = (r: TestRoom, ids: string[]) =>
  r.received
    .filter((d) => ids.includes(d.from) && d.reliable && d.channel === 'seq')
    .map((d) => d.data as string);

async function addVideoAndExpectFrames(from: TestRoom, to: TestRoom): Promise<void> {
  const tracks: RoomEvents['track'][] = [];
  to.room.on('track', (t) => tracks.push(t));
  const cam = fakeCamera();
  cleanups.push(() => cam.stop());
  from.room.publish(cam.stream);
  await expect.poll(() => tracks.length, { timeout: 20_000 }).toBeGreaterThan(0);
  const counter = countFrames(tracks[0]!.track);
  cleanups.push(() => counter.stop());
  await expect.poll(counter.frames, { timeout: 20_000 }).toBeGreaterThan(5);
}

describe('signaling drop and resume', () => {
  it('resumes with the same peer id while the data channel keeps flowing; renegotiation works after', async () => {
    sig = await startSignaling();
    const opts = { reconnectPolicy: slowPolicy(3_000) };
    const a = await joinRoom(sig, 'alice', 'resume', opts);
    const b = await joinRoom(sig, 'bob', 'resume', opts);
    rooms.push(a, b);
    const [aId, bId] = [a.room.peerId, b.room.peerId];
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    const ab = pump(a, () => bId, 'ab', 20);
    await expect.poll(() => seqFrom(b, [aId]).length).toBeGreaterThan(10);
    // Media too: a camera whose frames must keep arriving while signaling is away.
    const camTrack = b.room.next('track');
    const cam = fakeCamera();
    cleanups.push(() => cam.stop());
    a.room.publish(cam.stream);
    const camFrames = countFrames((await camTrack).track);
    cleanups.push(() => camFrames.stop());
    await expect.poll(camFrames.frames).toBeGreaterThan(5);

    const resumed = Promise.all([a.room.next('resumed'), b.room.next('resumed')]);
    const reconnecting = a.room.next('reconnecting');
    expect(dropAllSignalingConnections(sig)).toBe(2);
    await reconnecting;
    expect(a.room.state).toBe('reconnecting');
    const atDrop = seqFrom(b, [aId]).length;
    const framesAtDrop = camFrames.frames();
    // Signaling is down for ~3 s: the peer link alone carries these.
    await expect.poll(() => seqFrom(b, [aId]).length).toBeGreaterThan(atDrop + 20);
    await expect.poll(camFrames.frames).toBeGreaterThan(framesAtDrop + 5);
    expect(a.room.state).toBe('reconnecting');

    const [ra, rb] = await resumed;
    expect(ra).toMatchObject({ kind: 'resumed', peerId: aId, previousPeerId: aId });
    expect(rb).toMatchObject({ kind: 'resumed', peerId: bId });
    expect(a.room.peerId).toBe(aId);
    expect(a.room.peers().map((p) => p.peerId)).toEqual([bId]);
    // The pair never left the direct path.
    expect(b.paths.filter((p) => p.peerId === aId).map((p) => p.path)).not.toContain('websocket');

    await addVideoAndExpectFrames(a, b);
    await addVideoAndExpectFrames(b, a);
    ab.stop();
    await expect.poll(() => seqFrom(b, [aId])).toEqual(upTo('ab', ab.sent()));
  }, 120_000);

  it('a server restart on the same port: the SDK rejoins, links keep flowing, peers are re-keyed', async () => {
    sig = await startSignaling();
    const port = new URL(sig.wsUrl).port;
    const opts = { reconnectPolicy: slowPolicy(500) };
    const a = await joinRoom(sig, 'alice', 'restart', opts);
    const b = await joinRoom(sig, 'bob', 'restart', opts);
    rooms.push(a, b);
    const [aId, bId] = [a.room.peerId, b.room.peerId];
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    let bNow = bId;
    const ab = pump(a, () => bNow, 'ab', 20);
    await expect.poll(() => seqFrom(b, [aId]).length).toBeGreaterThan(10);

    const rejoinedA = a.room.next('resumed');
    const rejoinedB = b.room.next('resumed');
    await sig.close();
    const atStop = seqFrom(b, [aId]).length;
    await expect.poll(() => seqFrom(b, [aId]).length).toBeGreaterThan(atStop + 20);
    sig = await startSignaling({ PORT: port });

    const [ra, rb] = await Promise.all([rejoinedA, rejoinedB]);
    expect(ra.kind).toBe('rejoined');
    expect(rb.kind).toBe('rejoined');
    expect(a.room.peerId).not.toBe(aId);
    await expect.poll(() => a.room.peers().map((p) => p.peerId)).toEqual([b.room.peerId]);
    await expect.poll(() => b.room.peers().map((p) => p.peerId)).toEqual([a.room.peerId]);
    bNow = b.room.peerId;
    // Still the same link: never on the WebSocket path, no peer-left.
    expect(b.paths.map((p) => p.path)).not.toContain('websocket');

    await addVideoAndExpectFrames(a, b);
    await addVideoAndExpectFrames(b, a);
    ab.stop();
    await expect
      .poll(() => seqFrom(b, [aId, a.room.peerId]), { timeout: 20_000 })
      .toEqual(upTo('ab', ab.sent()));
    // Nothing was addressed to ids the restarted server never knew.
    const codes = [...a.errors, ...b.errors].map((e) => e.error.code);
    expect(codes.filter((c) => c === 'not_in_room')).toEqual([]);
  }, 120_000);
});
