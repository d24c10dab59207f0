/**
 * Through a real TURN relay (coturn, credentials minted by signaling from the shared secret): the path is
 * reported as `relay`; and a pair stuck on the WebSocket path while the relay is down moves to the relay
 * once it is up, losing and repeating no reliable message.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, useGenerousPolls, type TestRoom } from '../test-support/sdk-rooms.js';
import { startCoturn, type Coturn } from '../test-support/sdk-coturn.js';
import { freeUdpPort } from '../test-support/processes.js';
import { findTool } from '../test-support/tools.js';

useGenerousPolls();

const hasCoturn = findTool('turnserver') !== null || process.env.CI !== undefined;
let sig: RunningSignaling | undefined;
let turn: Coturn | null = null;
const rooms: TestRoom[] = [];
const timers: Array<ReturnType<typeof setInterval>> = [];
afterEach(async () => {
  timers.splice(0).forEach(clearInterval);
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  await turn?.stop();
  sig = undefined;
  turn = null;
});

const upTo = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}-${i}`);

describe.skipIf(!hasCoturn)('TURN relay path', () => {
  it('relay-only peers connect through coturn and report path relay with an RTT', async () => {
    turn = await startCoturn();
    sig = await startSignaling({ TURN_SERVERS: turn!.url });
    const a = await joinRoom(sig, 'alice', 'relay', { iceTransportPolicy: 'relay' });
    const b = await joinRoom(sig, 'bob', 'relay', { iceTransportPolicy: 'relay' });
    rooms.push(a, b);
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    expect(a.room.peer(b.room.peerId)?.path).toBe('relay');
    await expect.poll(() => typeof a.room.peer(b.room.peerId)?.rttMs).toBe('number');
    a.room.send('via turn', { to: b.room.peerId });
    await expect.poll(() => b.reliableFrom(a.room.peerId)).toEqual(['via turn']);
  }, 90_000);

  it('websocket while the relay is down, relay once it is up; reliable messages exactly once', async () => {
    const port = await freeUdpPort();
    sig = await startSignaling({ TURN_SERVERS: `turn:127.0.0.1:${port}?transport=udp` });
    const opts = {
      iceTransportPolicy: 'relay' as const,
      p2pConnectTimeoutMs: 1_500,
      iceRetryIntervalMs: 2_000,
    };
    const a = await joinRoom(sig, 'alice', 'relay-later', opts);
    const b = await joinRoom(sig, 'bob', 'relay-later', opts);
    rooms.push(a, b);
    const [aId, bId] = [a.room.peerId, b.room.peerId];
    await expect.poll(() => a.room.peer(bId)?.path).toBe('websocket');
    let i = 0;
    timers.push(setInterval(() => a.room.send(`ab-${i++}`, { to: bId, channel: 'seq' }), 20));
    await expect.poll(() => b.reliableFrom(aId, 'seq').length).toBeGreaterThan(20);

    turn = await startCoturn(port);
    await Promise.all([p2pTo(a.room, bId), p2pTo(b.room, aId)]);
    expect(a.room.peer(bId)?.path).toBe('relay');
    const atSwitch = i;
    await expect.poll(() => b.reliableFrom(aId, 'seq').length).toBeGreaterThan(atSwitch + 20);
    timers.splice(0).forEach(clearInterval);
    await expect.poll(() => b.reliableFrom(aId, 'seq')).toEqual(upTo('ab', i));
  }, 120_000);
});
