/**
 * ICE restart instead of link replacement, on real stacks: two relay-only Node peers talk through coturn
 * while video and a numbered reliable stream flow; the relay is restarted (every allocation lost, as when
 * a relay or a NAT mapping goes away). ICE goes `disconnected`, the SDK restarts ICE on the same link,
 * and the call comes back on fresh allocations: the remote track is the same object (no `track-ended`,
 * no new `track`), no link was created, the reliable stream arrived once and in order, and both sides
 * announced the restore and a `path` after it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { freeUdpPort } from '../test-support/processes.js';
import { startCoturn, type Coturn } from '../test-support/sdk-coturn.js';
import { countFrames, fakeCamera } from '../test-support/sdk-media.js';
import { joinRoom, p2pTo, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { startSignaling } from '../test-support/signaling.js';
import { findTool } from '../test-support/tools.js';
import type { LinkEvent, RoomEvents } from './room.js';

useGenerousPolls(40_000);
const defer = closeAfterEach();
const hasCoturn = findTool('turnserver') !== null || process.env.CI !== undefined;
let turn: Coturn | null = null;
afterEach(async () => {
  await turn?.stop();
  turn = null;
});

const upTo = (n: number) => Array.from({ length: n }, (_, i) => `m-${i}`);

describe.skipIf(!hasCoturn)('ICE restart', () => {
  it('a relay that loses every allocation: ICE restarts on the same link, tracks and order kept', async () => {
    const port = await freeUdpPort();
    turn = await startCoturn(port);
    const sig = defer(await startSignaling({ TURN_SERVERS: turn!.url }), (s) => s.close());
    const opts = {
      iceTransportPolicy: 'relay' as const,
      iceDisconnectedGraceMs: 1_000,
      p2pConnectTimeoutMs: 15_000,
    };
    const a = defer(await joinRoom(sig, 'alice', 'restart', opts), (r) => r.room.close());
    const b = defer(await joinRoom(sig, 'bob', 'restart', opts), (r) => r.room.close());
    const [aId, bId] = [a.room.peerId, b.room.peerId];
    const cam = defer(fakeCamera(), (c) => c.stop());
    const arrived = b.room.next('track');
    a.room.publish(cam.stream);
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    const remote = (await arrived).track;
    const frames = defer(countFrames(remote), (c) => c.stop());
    await expect.poll(frames.frames).toBeGreaterThan(5);

    const links: LinkEvent[] = [];
    const trackEvents: Array<RoomEvents['track'] | RoomEvents['track-ended']> = [];
    for (const r of [a, b]) {
      r.room.on('link', (e) => links.push(e));
      r.room.on('track', (e) => trackEvents.push(e));
      r.room.on('track-ended', (e) => trackEvents.push(e));
    }
    const pathsBefore = b.paths.length;
    let i = 0;
    const timer = setInterval(() => a.room.send(`m-${i++}`, { to: bId, channel: 'seq' }), 20);
    defer(timer, clearInterval);
    await expect.poll(() => b.reliableFrom(aId, 'seq').length).toBeGreaterThan(10);

    await turn!.stop();
    turn = await startCoturn(port);
    await expect.poll(() => links.filter((e) => e.kind === 'restarting').length).toBeGreaterThan(0);
    // Both sides see the restore, also the answering side whose grace may not have run out before the
    // offering side's restart offer came (it then never restarted itself).
    const restoredAt = () =>
      new Set(links.filter((e) => e.kind === 'connected' && e.reason === 'ice restart').map((e) => e.peerId));
    await expect.poll(() => [...restoredAt()].sort()).toEqual([aId, bId].sort());
    const atRestart = frames.frames();
    await expect.poll(frames.frames).toBeGreaterThan(atRestart + 5);
    clearInterval(timer);
    await expect.poll(() => b.reliableFrom(aId, 'seq')).toEqual(upTo(i));

    expect(links.filter((e) => e.kind === 'created' || e.kind === 'failed')).toEqual([]);
    expect(trackEvents).toEqual([]);
    expect(b.room.peer(aId)?.path).toBe('relay');
    expect(b.paths.length).toBeGreaterThan(pathsBefore);
  }, 120_000);
});
