import { describe, expect, it } from 'vitest';
import { FakeClock, FakePlatform, settle, welcomeFor } from '../../test-support/sdk-fakes.js';
import type { SdkError } from '../errors.js';
import { SignalingClient, type SignalingClientEvents } from './signaling-client.js';
import type { ReconnectPolicy } from './reconnect-policy.js';

function setup(
  policy: ReconnectPolicy = { nextDelayMs: ({ attempt }) => (attempt <= 3 ? 100 * attempt : null) },
  pingIntervalMs = 1_000,
) {
  const clock = new FakeClock();
  const platform = new FakePlatform();
  let tokens = 0;
  const client = new SignalingClient({
    url: 'ws://sig/v1/ws',
    token: 'jwt-0',
    getToken: () => Promise.resolve(`jwt-${++tokens}`),
    room: 'r',
    meta: { name: 'x' },
    platform,
    clock,
    policy,
    connectTimeoutMs: 5_000,
    pingIntervalMs,
    pongTimeoutMs: 1_000,
    refusedRetryFloorMs: 1_000,
    retryAfterJitterMs: 1_000,
    random: () => 0.25,
  });
  const events: Array<[keyof SignalingClientEvents, unknown]> = [];
  for (const e of ['joined', 'state', 'reconnecting', 'closed'] as const) {
    client.on(e, (p) => events.push([e, p]));
  }
  return { clock, platform, client, events };
}

async function joinFirst(s: ReturnType<typeof setup>) {
  const started = s.client.start();
  s.platform.last.open();
  s.platform.last.deliver(welcomeFor('peer-aaaaaaaa'));
  await started;
}

describe('SignalingClient', () => {
  it('sends the token as a bearer subprotocol entry and joins with its meta', async () => {
    const s = setup();
    await joinFirst(s);
    expect(s.platform.last.protocols).toEqual(['relay.v1', 'bearer.jwt-0']);
    expect(s.platform.last.url).toBe('ws://sig/v1/ws');
    expect(s.platform.last.sent[0]).toEqual({ type: 'join', room: 'r', meta: { name: 'x' } });
    expect(s.client.state).toBe('connected');
  });

  it('rejects the first connect with the server error code (no retry)', async () => {
    const s = setup();
    const started = s.client.start();
    s.platform.last.open();
    s.platform.last.deliver({ type: 'error', code: 'forbidden_room', message: 'no' });
    await expect(started).rejects.toMatchObject({ code: 'forbidden_room' });
    expect(s.platform.sockets).toHaveLength(1);
  });

  it('times out the first connect with connect_timeout', async () => {
    const s = setup();
    const started = s.client.start();
    const assertion = expect(started).rejects.toMatchObject({ code: 'connect_timeout' });
    await s.clock.advance(5_000);
    await assertion;
  });

  it('after a drop: waits the policy delay, gets a fresh token, resumes the session', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    expect(s.client.state).toBe('reconnecting');
    await s.clock.advance(99);
    expect(s.platform.sockets).toHaveLength(1);
    await s.clock.advance(1);
    expect(s.platform.sockets).toHaveLength(2);
    const socket = s.platform.last;
    expect(socket.protocols).toEqual(['relay.v1', 'bearer.jwt-1']);
    socket.open();
    expect(socket.sent[0]).toMatchObject({
      type: 'join',
      resume: { sessionId: 'session-peer-aaaaaaaa-0123456789', peerId: 'peer-aaaaaaaa' },
    });
    socket.deliver(welcomeFor('peer-aaaaaaaa', { resumed: true, sessionId: 'session-two-0123456789' }));
    await settle();
    expect(s.events.filter(([e]) => e === 'joined').at(-1)?.[1]).toMatchObject({
      kind: 'resumed',
      previousPeerId: 'peer-aaaaaaaa',
    });
    expect(s.client.state).toBe('connected');
  });

  it('session_expired: joins afresh on the same socket and reports a rejoin with the new peer id', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    await s.clock.advance(100);
    const socket = s.platform.last;
    socket.open();
    socket.deliver({ type: 'error', code: 'session_expired', message: 'gone' });
    expect(socket.sent[1]).toEqual({ type: 'join', room: 'r', meta: { name: 'x' } });
    socket.deliver(welcomeFor('peer-bbbbbbbb'));
    await settle();
    expect(s.events.filter(([e]) => e === 'joined').at(-1)?.[1]).toMatchObject({
      kind: 'rejoined',
      previousPeerId: 'peer-aaaaaaaa',
    });
    expect(s.client.peerId).toBe('peer-bbbbbbbb');
  });

  it('retries failed attempts with growing delays, then gives up with reconnect_gave_up', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    // After an attempt refused before it opened (a browser cannot tell busy from down), the floor is added.
    for (const delay of [100, 1_200, 1_300]) {
      await s.clock.advance(delay);
      s.platform.last.refuse();
    }
    await s.clock.advance(1_000);
    const reconnecting = s.events.filter(([e]) => e === 'reconnecting').map(([, p]) => p);
    expect(reconnecting).toMatchObject([
      { attempt: 1, delayMs: 100 },
      { attempt: 2, delayMs: 1_200 },
      { attempt: 3, delayMs: 1_300 },
    ]);
    const closed = s.events.find(([e]) => e === 'closed')?.[1] as { error: SdkError };
    expect(closed.error.code).toBe('reconnect_gave_up');
    expect(s.client.state).toBe('closed');
    expect(s.clock.pending).toBe(0);
  });

  it('pings, and treats silence past interval + timeout as a drop', async () => {
    const s = setup();
    await joinFirst(s);
    const first = s.platform.last;
    await s.clock.advance(1_000);
    expect(first.sent.at(-1)).toMatchObject({ type: 'ping' });
    first.deliver({ type: 'pong' });
    await s.clock.advance(1_000);
    expect(s.client.state).toBe('connected');
    await s.clock.advance(2_000); // no answer to two pings
    expect(s.client.state).toBe('reconnecting');
    expect(first.closedWith).toBe(4000); // not 1000: the server keeps our seat for the resume
  });

  it('a draining server (`reconnect`): stays connected until its afterMs, then reconnects and resumes', async () => {
    const s = setup();
    await joinFirst(s);
    const first = s.platform.last;
    first.deliver({ type: 'reconnect', reason: 'draining', afterMs: 500 });
    await s.clock.advance(499); // still here: signals keep flowing on this connection until our time
    expect(s.client.state).toBe('connected');
    expect(first.closedWith).toBeNull();
    await s.clock.advance(1);
    expect(s.client.state).toBe('reconnecting');
    expect(first.closedWith).toBe(4000); // keeps the seat for the resume
    await s.clock.advance(100); // then the policy's first delay
    expect(s.platform.sockets).toHaveLength(2);
    expect(s.platform.last.sent).toHaveLength(0);
    s.platform.last.open();
    expect(s.platform.last.sent[0]).toMatchObject({ type: 'join', resume: { peerId: 'peer-aaaaaaaa' } });
  });

  it('a drained connection closed before its afterMs still waits the rest of it', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.deliver({ type: 'reconnect', reason: 'draining', afterMs: 2_000 });
    await s.clock.advance(500);
    s.platform.last.drop(1012); // the server closed early
    await s.clock.advance(1_499);
    expect(s.platform.sockets).toHaveLength(1);
    await s.clock.advance(1);
    expect(s.platform.sockets).toHaveLength(2);
  });

  it("honours a refused upgrade's Retry-After (Node) instead of the policy, plus jitter", async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    await s.clock.advance(100);
    s.platform.last.refusal = { status: 503, retryAfterMs: 3_000 };
    s.platform.last.refuse();
    await settle();
    const reconnecting = s.events.filter(([e]) => e === 'reconnecting').map(([, p]) => p);
    // 3 s from the server, a quarter of the 1 s jitter (random() = 0.25).
    expect(reconnecting.at(-1)).toMatchObject({ attempt: 2, delayMs: 3_250, error: { code: 'server_busy' } });
    await s.clock.advance(3_249);
    expect(s.platform.sockets).toHaveLength(2);
    await s.clock.advance(1);
    expect(s.platform.sockets).toHaveLength(3);
  });

  it('the first connect refused as busy rejects with server_busy and its retryAfterMs', async () => {
    const s = setup();
    const started = s.client.start();
    s.platform.last.refusal = { status: 503, retryAfterMs: 2_000 };
    s.platform.last.refuse();
    await expect(started).rejects.toMatchObject({ code: 'server_busy', retryAfterMs: 2_000 });
  });

  it('reports the join before any frame that follows the welcome in the same tick (replayed mailbox)', async () => {
    const s = setup();
    await joinFirst(s);
    const order: string[] = [];
    s.client.on('joined', (e) => order.push(`joined:${e.kind}`));
    s.client.on('message', (m) => order.push(m.type));
    s.platform.last.drop();
    await s.clock.advance(100);
    s.platform.last.open();
    s.platform.last.deliver(welcomeFor('peer-aaaaaaaa', { resumed: true }));
    s.platform.last.deliver({ type: 'peer-left', peerId: 'peer-cccccccc', reason: 'timeout' });
    expect(order).toEqual(['joined:resumed', 'peer-left']);
  });

  it('close() during a reconnect attempt aborts it (socket closed with 1000) and leaves no timers', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    await s.clock.advance(100);
    const attempt = s.platform.last;
    attempt.open();
    s.client.close();
    await settle();
    expect(attempt.closedWith).toBe(1000);
    expect(s.clock.pending).toBe(0);
    expect(s.client.state).toBe('closed');
  });

  it('close() is idempotent, leaves no timers and stops reconnecting', async () => {
    const s = setup();
    await joinFirst(s);
    s.platform.last.drop();
    s.client.close();
    s.client.close();
    await s.clock.advance(10_000);
    expect(s.platform.sockets).toHaveLength(1);
    expect(s.clock.pending).toBe(0);
    expect(s.events.filter(([e]) => e === 'closed')).toHaveLength(1);
  });

  it('hands the server a fresh token over the open socket before the old one expires, and again after each refresh', async () => {
    const s = setup({ nextDelayMs: () => null }, 3_600_000); // no pings in the way
    const started = s.client.start();
    s.platform.last.open();
    const expiresAt = Math.floor(s.clock.now() / 1000) + 600;
    s.platform.last.deliver(welcomeFor('peer-aaaaaaaa', { tokenExpiresAt: expiresAt }));
    await started;
    const refreshes = () => s.platform.last.sent.filter((m) => m.type === 'refresh-token');
    await s.clock.advance(479_000);
    expect(refreshes()).toEqual([]);
    await s.clock.advance(1_000); // a fifth of 600 s left
    expect(refreshes()).toEqual([
      { type: 'refresh-token', id: expect.any(Number) as number, token: 'jwt-1' },
    ]);
    s.platform.last.deliver({ type: 'token-refreshed', expiresAt: expiresAt + 600 });
    await s.clock.advance(575_000); // 720 s left: refresh with a fifth (144 s) of them to go
    expect(refreshes()).toHaveLength(1);
    await s.clock.advance(1_000);
    expect(refreshes().map((m) => m.type === 'refresh-token' && m.token)).toEqual(['jwt-1', 'jwt-2']);
    expect(s.platform.sockets).toHaveLength(1);
  });

  it('does not reconnect after the server closes with session_replaced, kicked or revoked', async () => {
    for (const [code, name] of [
      [4497, 'session_replaced'],
      [4496, 'kicked'],
      [4495, 'revoked'],
    ] as const) {
      const s = setup();
      await joinFirst(s);
      s.platform.last.drop(code);
      await s.clock.advance(5_000);
      expect(s.platform.sockets).toHaveLength(1);
      expect(s.client.state).toBe('closed');
      const closed = s.events.find(([e]) => e === 'closed')?.[1] as { error?: SdkError };
      expect(closed.error?.code).toBe(name);
    }
  });
});
