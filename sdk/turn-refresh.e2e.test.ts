/**
 * The ICE server list changes mid-call (TURN credentials refreshed before they expire, or the app sets new
 * servers), then the call renegotiates (a track is added): the link that was working stays, with no ICE
 * restart nobody asked for, and data keeps flowing across it.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { startSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { countFrames, fakeCamera } from '../test-support/sdk-media.js';
import { systemClock, type Clock } from './clock.js';
import type { Link, LinkOptions } from './peer/link.js';
import { createRtcLink } from './peer/rtc-link.js';
import { ufragOfSdp } from './peer/signal-router.js';
import { nodePlatform } from './platform/node.js';
import type { RoomEvents } from './room.js';

useGenerousPolls();
const defer = closeAfterEach();

/** Links that record every local description's ufrag (to see ICE restarts) and every reconfiguration. */
function recordingLinks() {
  const platform = nodePlatform();
  const configured: RTCConfiguration[] = [];
  const localUfrags = new Set<string>();
  const linkFactory = (options: LinkOptions): Link => {
    const link = createRtcLink(options, platform.wrtc);
    const set = link.setConfiguration.bind(link);
    link.setConfiguration = (c) => {
      configured.push(c);
      set(c);
    };
    link.on('signal', (s) => {
      const ufrag = s.type === 'offer' || s.type === 'answer' ? ufragOfSdp(s.sdp) : null;
      if (ufrag) localUfrags.add(ufrag);
    });
    return link;
  };
  return { linkFactory, configured, localUfrags };
}

/** Links created from now on (counted once the pair is connected: any new one replaced a working link). */
function linksCreated(r: TestRoom): () => number {
  let n = 0;
  r.room.on('link', (e) => e.kind === 'created' && n++);
  return () => n;
}

/** Publishes a fake camera from `from`; resolves when `to` decodes its frames. */
async function addTrack(from: TestRoom, to: TestRoom): Promise<void> {
  const track = to.room.next('track');
  const cam = defer(fakeCamera(), (c) => c.stop());
  from.room.publish(cam.stream);
  const frames = defer(countFrames((await track).track), (c) => c.stop());
  await expect.poll(frames.frames).toBeGreaterThan(5);
}

async function exchange(a: TestRoom, b: TestRoom, label: string): Promise<void> {
  for (let i = 0; i < 20; i++) a.room.send(`${label}-${i}`, { to: b.room.peerId, channel: label });
  for (let i = 0; i < 20; i++) b.room.send(`${label}-${i}`, { to: a.room.peerId, channel: label });
  const all = Array.from({ length: 20 }, (_, i) => `${label}-${i}`);
  await expect.poll(() => b.reliableFrom(a.room.peerId, label)).toEqual(all);
  await expect.poll(() => a.reliableFrom(b.room.peerId, label)).toEqual(all);
}

describe('ICE server changes mid-call', () => {
  it('refreshed TURN credentials go to new links only; a renegotiation after keeps the same link', async () => {
    // 60 s credentials (the server minimum) and client clocks 58 s ahead: refreshes are due in ~1 s.
    const sig = defer(
      await startSignaling({ TURN_SERVERS: 'turn:127.0.0.1:9?transport=udp', TURN_CREDENTIAL_TTL_S: '60' }),
      (s) => s.close(),
    );
    const clock: Clock = { ...systemClock, now: () => Date.now() + 58_000 };
    const rec = recordingLinks();
    const a = await joinRoom(sig, 'alice', 'turn', { clock, linkFactory: rec.linkFactory });
    defer(a, (r) => r.room.close());
    const b = await joinRoom(sig, 'bob', 'turn', { clock, linkFactory: rec.linkFactory });
    defer(b, (r) => r.room.close());
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    const created = [linksCreated(a), linksCreated(b)];
    const firstUser = (a.room as unknown as { iceServers: Array<{ username?: string }> }).iceServers[0]
      ?.username;
    expect(firstUser).toMatch(/^\d+:alice:dHVybg$/); // bound to room 'turn'

    // The list really changed: a new username (later expiry) on both sides.
    const [ra, rb]: [RoomEvents['ice-servers'], RoomEvents['ice-servers']] = await Promise.all([
      a.room.next('ice-servers'),
      b.room.next('ice-servers'),
    ]);
    expect(ra.iceServers[0]?.username).not.toBe(firstUser);
    expect(rb.iceServers[0]?.username).toMatch(/^\d+:bob:dHVybg$/);
    const ufragsBefore = rec.localUfrags.size;

    await addTrack(a, b);
    await addTrack(b, a);
    await exchange(a, b, 'after-refresh');
    expect(rec.configured).toEqual([]);
    expect(rec.localUfrags.size).toBe(ufragsBefore); // renegotiated without an ICE restart
    expect(created.map((c) => c())).toEqual([0, 0]);
    expect(a.room.peer(b.room.peerId)?.path).toBe('direct');
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 90_000);

  it('new ICE servers set by the app restart ICE at the next renegotiation on the same link', async () => {
    const sig = defer(await startSignaling(), (s) => s.close());
    const rec = recordingLinks();
    const a = await joinRoom(sig, 'alice', 'set', { linkFactory: rec.linkFactory });
    defer(a, (r) => r.room.close());
    const b = await joinRoom(sig, 'bob', 'set', { linkFactory: rec.linkFactory });
    defer(b, (r) => r.room.close());
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    const created = [linksCreated(a), linksCreated(b)];
    const ufragsBefore = rec.localUfrags.size;

    const servers = [{ urls: 'stun:127.0.0.1:9' }];
    a.room.updateIceConfiguration({ iceServers: servers });
    b.room.updateIceConfiguration({ iceServers: servers });
    await addTrack(a, b);
    await addTrack(b, a);
    await exchange(a, b, 'after-restart');
    expect(rec.configured.length).toBe(2);
    // libwebrtc restarted ICE (new ufrags) and the router kept the link: no link was created or lost.
    expect(rec.localUfrags.size).toBeGreaterThan(ufragsBefore);
    expect(created.map((c) => c())).toEqual([0, 0]);
    expect([...a.paths, ...b.paths].map((p) => p.path)).not.toContain('websocket');
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 90_000);
});
