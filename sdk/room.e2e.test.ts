/** Real WebRTC (@roamhq/wrtc) between SDK rooms through a real signaling server on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { connect, SdkError } from './node.js';

useGenerousPolls();
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
    const qualities: string[] = [];
    a.room.on('quality', (e) => qualities.push(e.quality));
    const b = await joinRoom(sig, 'bob', 'call');
    rooms.push(a, b);
    expect(b.room.peers().map((p) => p.peerId)).toEqual([a.room.peerId]);
    await expect.poll(() => a.room.peers().length).toBe(1);
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    expect(a.room.peer(b.room.peerId)?.path).toBe('direct');
    // RTT from the selected candidate pair, once the stats poll has run.
    await expect.poll(() => typeof a.room.peer(b.room.peerId)?.rttMs).toBe('number');

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

    // The pair in numbers: path, RTT, candidate types, bitrate each way (two polls), quality.
    await expect.poll(() => a.room.getPeerStats(b.room.peerId).sendKbps).toBeTypeOf('number');
    expect(a.room.getPeerStats(b.room.peerId)).toMatchObject({
      path: 'direct',
      quality: 'good',
      rttMs: expect.any(Number),
      localCandidateType: 'host',
      remoteCandidateType: 'host',
      receiveKbps: expect.any(Number),
    });
    expect(a.room.peer(b.room.peerId)?.quality).toBe('good');
    expect(qualities).toEqual(['good']);
  }, 60_000);

  it('rejects with the protocol code when the token does not grant the room, and when signaling is away', async () => {
    sig = await startSignaling();
    await expect(
      connect({ url: sig.wsUrl, token: sig.token('mallory', ['other']), room: 'call' }),
    ).rejects.toMatchObject({ code: 'forbidden_room' });
    // A refused upgrade (bad token) never gets a WebSocket; browsers cannot see the HTTP status.
    await expect(connect({ url: sig.wsUrl, token: 'not-a-jwt', room: 'call' })).rejects.toMatchObject({
      code: 'signaling_unavailable',
    });
    await expect(connect({ url: 'ws://127.0.0.1:9/v1/ws', token: 'x', room: 'call' })).rejects.toBeInstanceOf(
      SdkError,
    );
    await expect.poll(() => sig!.server.connectionCount).toBe(0);
  });

  it('close() is idempotent, tells the others (peer-left "left", no link errors) and frees the server seat', async () => {
    sig = await startSignaling();
    const a = await joinRoom(sig, 'alice', 'bye');
    const b = await joinRoom(sig, 'bob', 'bye');
    rooms.push(b);
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    const left = b.room.next('peer-left');
    await Promise.all([a.room.close(), a.room.close()]);
    await a.room.close();
    expect(await left).toEqual({ peerId: a.room.peerId, reason: 'left' });
    expect(b.room.peers()).toEqual([]);
    await new Promise((r) => setTimeout(r, 500));
    expect(b.errors).toEqual([]);
    await expect.poll(() => sig!.server.connectionCount).toBe(1);
    expect(() => a.room.send('x')).toThrow(expect.objectContaining({ code: 'room_closed' }) as Error);
  });

  it('updateMetadata: the others see peer-updated, a later joiner sees it, and a resume keeps it', async () => {
    sig = await startSignaling();
    const a = await joinRoom(sig, 'alice', 'meta');
    const b = await joinRoom(sig, 'bob', 'meta');
    rooms.push(a, b);
    await Promise.all([p2pTo(a.room, b.room.peerId), p2pTo(b.room, a.room.peerId)]);
    const updates: Array<Record<string, unknown>> = [];
    b.room.on('peer-updated', ({ peer }) => updates.push(peer.meta));
    expect(a.room.updateMetadata({ name: 'Alice (away)' })).toBe(true);
    await expect.poll(() => updates).toEqual([{ name: 'Alice (away)' }]);
    expect(b.room.peer(a.room.peerId)?.meta).toEqual({ name: 'Alice (away)' });
    // The dropped and resumed connection keeps the new metadata; a newcomer sees it.
    a.room.dropSignalingConnection();
    await expect.poll(() => a.room.state).toBe('connected');
    const c = await joinRoom(sig, 'carol', 'meta');
    rooms.push(c);
    expect(c.room.peer(a.room.peerId)?.meta).toEqual({ name: 'Alice (away)' });
    expect(b.errors).toEqual([]);
  });
});
