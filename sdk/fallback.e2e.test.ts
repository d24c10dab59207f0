/**
 * P2P impossible → data over the WebSocket path; P2P possible again → back to a direct link; numbered
 * reliable messages sent all along arrive exactly once and in order, both ways.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import type { Link, LinkOptions } from './peer/link.js';
import { createRtcLink } from './peer/rtc-link.js';
import { nodePlatform } from './platform/node.js';

useGenerousPolls();
let sig: RunningSignaling | undefined;
const rooms: TestRoom[] = [];
const timers: Array<ReturnType<typeof setInterval>> = [];
afterEach(async () => {
  timers.splice(0).forEach(clearInterval);
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  sig = undefined;
});

/** Relay-only through a relay that is not there: ICE can never succeed. */
const NO_P2P = {
  iceTransportPolicy: 'relay' as const,
  iceServers: [{ urls: 'turn:127.0.0.1:9?transport=udp', username: 'nobody', credential: 'nothing' }],
  p2pConnectTimeoutMs: 1_500,
  iceRetryIntervalMs: 2_000,
};

/** Send `${label}-${i}` every `everyMs` from `from` to `to`; returns how many went out so far. */
function pump(
  from: TestRoom,
  to: TestRoom,
  label: string,
  everyMs: number,
): { sent: () => number; stop(): void } {
  let i = 0;
  const t = setInterval(
    () => from.room.send(`${label}-${i++}`, { to: to.room.peerId, channel: 'seq' }),
    everyMs,
  );
  timers.push(t);
  return { sent: () => i, stop: () => clearInterval(t) };
}

const upTo = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}-${i}`);

describe('WebSocket fallback', () => {
  it('carries data over signaling while P2P fails, moves back when ICE works, loses and repeats nothing', async () => {
    sig = await startSignaling();
    const a = await joinRoom(sig, 'alice', 'fb', NO_P2P);
    const b = await joinRoom(sig, 'bob', 'fb', NO_P2P);
    rooms.push(a, b);
    const aId = a.room.peerId;
    const bId = b.room.peerId;
    await expect.poll(() => a.room.peer(bId)?.path, { timeout: 20_000 }).toBe('websocket');
    await expect.poll(() => b.room.peer(aId)?.path, { timeout: 20_000 }).toBe('websocket');

    const ab = pump(a, b, 'ab', 20);
    const ba = pump(b, a, 'ba', 25);
    await expect.poll(() => b.reliableFrom(aId, 'seq').length, { timeout: 20_000 }).toBeGreaterThan(30);
    await expect.poll(() => a.reliableFrom(bId, 'seq').length, { timeout: 20_000 }).toBeGreaterThan(30);
    // Unreliable messages take the WebSocket path too while on it.
    await expect
      .poll(() => {
        a.room.send('u-ws', { to: bId, reliable: false });
        return b.received.some((d) => !d.reliable && d.data === 'u-ws');
      })
      .toBe(true);

    // Each side says why: the only relay it was given never answered.
    expect(a.room.peer(bId)?.p2pFailure).toBe('turn_unreachable');
    expect(b.room.peer(aId)?.p2pFailure).toBe('turn_unreachable');

    // Make P2P possible: both sides allow host candidates again; the next fresh link connects.
    a.room.updateIceConfiguration({ iceTransportPolicy: 'all', iceServers: [] });
    b.room.updateIceConfiguration({ iceTransportPolicy: 'all', iceServers: [] });
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    expect(a.room.peer(bId)?.path).toBe('direct');
    expect(a.room.peer(bId)?.p2pFailure).toBeNull();
    const sentAtSwitch = ab.sent();
    await expect
      .poll(() => b.reliableFrom(aId, 'seq').length, { timeout: 20_000 })
      .toBeGreaterThan(sentAtSwitch + 20);

    ab.stop();
    ba.stop();
    const [nab, nba] = [ab.sent(), ba.sent()];
    await expect.poll(() => b.reliableFrom(aId, 'seq'), { timeout: 20_000 }).toEqual(upTo('ab', nab));
    await expect.poll(() => a.reliableFrom(bId, 'seq'), { timeout: 20_000 }).toEqual(upTo('ba', nba));
    // Both paths were used, in that order.
    const pathsAtB = b.paths.filter((p) => p.peerId === aId).map((p) => p.path);
    expect(pathsAtB.indexOf('websocket')).toBeLessThan(pathsAtB.lastIndexOf('direct'));
    // Nothing more arrives later (no late duplicates from the old path).
    await new Promise((r) => setTimeout(r, 1500));
    expect(b.reliableFrom(aId, 'seq')).toEqual(upTo('ab', nab));
    console.log(
      'errors',
      [...a.errors, ...b.errors].map((e) => e.error.code + ' ' + e.error.message),
    );
  }, 120_000);
});

describe('link failure mid-stream', () => {
  it('a link that dies while messages flow: data moves to signaling, a new link takes over, exactly once', async () => {
    sig = await startSignaling();
    const links: Link[] = [];
    const platform = nodePlatform();
    const capture = (options: LinkOptions) => {
      const link = createRtcLink(options, platform.wrtc);
      links.push(link);
      return link;
    };
    const opts = { linkFactory: capture, iceRetryIntervalMs: 1_500 };
    const a = await joinRoom(sig, 'alice', 'kill', opts);
    const b = await joinRoom(sig, 'bob', 'kill', opts);
    rooms.push(a, b);
    const [aId, bId] = [a.room.peerId, b.room.peerId];
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    const linkEvents: string[] = [];
    a.room.on('link', (e) => linkEvents.push(`a:${e.kind}`));
    b.room.on('link', (e) => linkEvents.push(`b:${e.kind}`));

    const ab = pump(a, b, 'ab', 10);
    const ba = pump(b, a, 'ba', 15);
    await expect.poll(() => b.reliableFrom(aId, 'seq').length).toBeGreaterThan(20);
    // Kill every live link (as an ICE failure would), while both pumps run.
    for (const l of links.splice(0)) l.destroy();
    await expect.poll(() => linkEvents.filter((e) => e.endsWith('failed')).length).toBeGreaterThan(0);
    await expect.poll(() => b.paths.some((p) => p.path === 'websocket')).toBe(true);
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    const n = ab.sent();
    await expect.poll(() => b.reliableFrom(aId, 'seq').length, { timeout: 20_000 }).toBeGreaterThan(n + 20);
    ab.stop();
    ba.stop();
    await expect.poll(() => b.reliableFrom(aId, 'seq'), { timeout: 20_000 }).toEqual(upTo('ab', ab.sent()));
    await expect.poll(() => a.reliableFrom(bId, 'seq'), { timeout: 20_000 }).toEqual(upTo('ba', ba.sent()));
    expect(linkEvents).toContain('a:connected');
  }, 120_000);
});
