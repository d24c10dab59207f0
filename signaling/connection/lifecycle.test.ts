/** Connection lifecycle over real sockets: heartbeat, backpressure, connection caps, resume window. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { TestClient, UpgradeRefused } from '../../test-support/ws-client.js';

let sig: RunningSignaling;
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sig.close();
});
async function connect(user: string, options: Parameters<typeof TestClient.connect>[1] = {}) {
  const c = await TestClient.connect(sig.wsUrl, { token: sig.token(user, ['r']), ...options });
  clients.push(c);
  return c;
}

describe('heartbeat', () => {
  it('terminates a connection that stops answering pings and tells the room', async () => {
    sig = await startSignaling({ HEARTBEAT_INTERVAL_MS: '100', RESUME_WINDOW_MS: '0' });
    const live = await connect('live');
    const silent = await connect('silent', { autoPong: false });
    await live.join('r');
    const ws = await silent.join('r');
    const closed = await silent.closed;
    expect(closed.code).toBe(1006); // terminated, no closing handshake
    expect(await live.next('peer-left')).toEqual({
      type: 'peer-left',
      peerId: ws.peerId,
      reason: 'disconnected',
    });
    expect(live.ws.readyState).toBe(live.ws.OPEN); // the answering client survives many intervals
    const metrics = await (await fetch(`${sig.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/signaling_errors_total\{code="heartbeat_timeout"[^}]*\} 1/);
  });
});

describe('backpressure', () => {
  it('disconnects a peer that does not read once its send buffer passes the limit', async () => {
    sig = await startSignaling({
      MAX_BUFFERED_BYTES: '65536',
      RATE_LIMIT_PER_S: '100000',
      RATE_LIMIT_BURST: '100000',
      RESUME_WINDOW_MS: '0',
    });
    const sender = await connect('sender');
    const slow = await connect('slow');
    await sender.join('r');
    const ws = await slow.join('r');
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const payload = 'x'.repeat(3000);
    // Bounded: at most 8 000 frames of 3 kB (24 MB), stopping as soon as the server gives up on the reader.
    for (let i = 0; i < 8000 && sender.all('peer-left').length === 0; i++) {
      sender.send({ type: 'data', to: ws.peerId, payload });
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await sender.next('peer-left', 10_000)).toMatchObject({
      peerId: ws.peerId,
      reason: 'disconnected',
    });
    expect(sig.server.connectionCount).toBe(1);
    const metrics = await (await fetch(`${sig.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/signaling_errors_total\{code="backpressure"[^}]*\} 1/);
    socket.resume();
  });
});

describe('connection caps', () => {
  it('refuses connections past the per-IP cap with 429 and gives the seat back on close', async () => {
    sig = await startSignaling({ MAX_CONNECTIONS_PER_IP: '2' });
    const a = await connect('a');
    await connect('b');
    const err = await TestClient.connect(sig.wsUrl, { token: sig.token('c', ['r']) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UpgradeRefused);
    expect((err as UpgradeRefused).status).toBe(429);
    await a.close();
    await expect.poll(() => sig.server.connectionCount).toBe(1);
    await connect('c');
  });

  it('refuses connections past the instance cap with 503', async () => {
    sig = await startSignaling({ MAX_CONNECTIONS: '1' });
    await connect('a');
    const err = await TestClient.connect(sig.wsUrl, { token: sig.token('b', ['r']) }).catch(
      (e: unknown) => e,
    );
    expect((err as UpgradeRefused).status).toBe(503);
  });
});

describe('resume', () => {
  it('keeps the seat through a drop, replays signals sent meanwhile, and resumes the same peer id', async () => {
    sig = await startSignaling({ RESUME_WINDOW_MS: '5000' });
    const a = await connect('alice');
    const b = await connect('bob');
    const wa = await a.join('r');
    const wb = await b.join('r');
    b.ws.terminate(); // an abnormal drop (no close frame)
    await b.closed;
    await new Promise((r) => setTimeout(r, 50));
    a.send({ type: 'signal', to: wb.peerId, signal: { type: 'offer', sdp: 'while-away' } });
    const b2 = await connect('bob');
    const again = await b2.join('r', { resume: { sessionId: wb.sessionId, peerId: wb.peerId } });
    expect(again).toMatchObject({ peerId: wb.peerId, resumed: true });
    expect(again.members.map((m) => m.peerId)).toEqual([wa.peerId]);
    expect((await b2.next('signal')).signal).toEqual({ type: 'offer', sdp: 'while-away' });
    expect(a.all('peer-left')).toEqual([]);
    expect(a.all('peer-joined')).toHaveLength(1); // only bob's first join
  });

  it('refuses a resume of someone else’s session, and tells the room peer-left once the window passes', async () => {
    sig = await startSignaling({ RESUME_WINDOW_MS: '300' });
    const a = await connect('alice');
    const b = await connect('bob');
    await a.join('r');
    const wb = await b.join('r');
    b.ws.terminate();
    const mallory = await connect('mallory');
    mallory.send({ type: 'join', id: 1, room: 'r', resume: { sessionId: wb.sessionId, peerId: wb.peerId } });
    expect(await mallory.next('error')).toMatchObject({ code: 'session_expired', replyTo: 1 });
    expect(await a.next('peer-left', 3000)).toEqual({
      type: 'peer-left',
      peerId: wb.peerId,
      reason: 'timeout',
    });
    const late = await connect('bob');
    late.send({ type: 'join', id: 2, room: 'r', resume: { sessionId: wb.sessionId, peerId: wb.peerId } });
    expect(await late.next('error')).toMatchObject({ code: 'session_expired', replyTo: 2 });
  });
});
