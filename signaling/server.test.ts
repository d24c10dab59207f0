/** The signaling server over real sockets: every refusal path, rooms, relay, and that nothing leaks between rooms. */
import jwt from 'jsonwebtoken';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSignaling, TEST_JWT_SECRET, type RunningSignaling } from '../test-support/signaling.js';
import { TestClient, UpgradeRefused } from '../test-support/ws-client.js';

let sig: RunningSignaling;
const clients: TestClient[] = [];
async function client(user: string, rooms: string[], options: Parameters<typeof TestClient.connect>[1] = {}) {
  const c = await TestClient.connect(sig.wsUrl, { token: sig.token(user, rooms), ...options });
  clients.push(c);
  return c;
}
async function refusal(promise: Promise<unknown>): Promise<UpgradeRefused> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UpgradeRefused);
  return err as UpgradeRefused;
}

beforeEach(async () => {
  sig = await startSignaling({
    ROOM_SIZE_MAX: '3',
    RATE_LIMIT_PER_S: '20',
    RATE_LIMIT_BURST: '20',
    MAX_MESSAGE_BYTES: '4096',
    TURN_SERVERS: 'turn:127.0.0.1:3479?transport=udp,stun:127.0.0.1:3479',
  });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sig.close();
});

describe('upgrade refusals (no WebSocket is created)', () => {
  const sign = (claims: object, opts: jwt.SignOptions = {}) =>
    jwt.sign({ room: 'r', ...claims }, TEST_JWT_SECRET, {
      algorithm: 'HS256',
      audience: sig.server.config.jwt.audience,
      issuer: sig.server.config.jwt.issuer,
      subject: 'u',
      expiresIn: 60,
      ...opts,
    });

  it('401 without a token', async () => {
    expect((await refusal(TestClient.connect(sig.wsUrl))).status).toBe(401);
  });
  it('401 for an expired token', async () => {
    expect(
      (await refusal(TestClient.connect(sig.wsUrl, { token: sign({}, { expiresIn: -600 }) }))).status,
    ).toBe(401);
  });
  it('401 for a forged token', async () => {
    const forged = jwt.sign({ room: 'r' }, 'x'.repeat(40), {
      algorithm: 'HS256',
      subject: 'u',
      expiresIn: 60,
    });
    expect((await refusal(TestClient.connect(sig.wsUrl, { token: forged }))).status).toBe(401);
  });
  it("401 for alg:'none'", async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none' })}.${b64({ sub: 'u', room: 'r', aud: sig.server.config.jwt.audience, iss: sig.server.config.jwt.issuer, exp: 9e9 })}.`;
    expect((await refusal(TestClient.connect(sig.wsUrl, { token: none }))).status).toBe(401);
  });
  it('401 for the wrong audience', async () => {
    expect(
      (await refusal(TestClient.connect(sig.wsUrl, { token: sign({}, { audience: 'someone-else' }) })))
        .status,
    ).toBe(401);
  });
  it('403 for a foreign Origin', async () => {
    const err = await refusal(
      TestClient.connect(sig.wsUrl, { token: sign({}), origin: 'https://evil.example' }),
    );
    expect(err.status).toBe(403);
    expect(JSON.parse(err.body)).toMatchObject({ code: 'origin_not_allowed' });
  });
  it('accepts the token as a bearer subprotocol and answers with relay.v1, never echoing the token', async () => {
    const c = await TestClient.connect(sig.wsUrl, { token: sign({}), tokenInProtocol: true });
    clients.push(c);
    expect(c.ws.protocol).toBe('relay.v1');
  });
  it('404 on another path', async () => {
    expect(
      (await refusal(TestClient.connect(sig.wsUrl.replace('/v1/ws', '/v0/ws'), { token: sign({}) }))).status,
    ).toBe(404);
  });
  it('counts refusals in /metrics', async () => {
    await refusal(TestClient.connect(sig.wsUrl));
    const text = await (await fetch(`${sig.httpUrl}/metrics`)).text();
    expect(text).toMatch(/signaling_auth_failures_total\{status="401",reason="unauthorized"/);
  });
});

describe('rooms', () => {
  it('welcomes with a server-assigned peer id, the members, and ICE servers; tells the others', async () => {
    const a = await client('alice', ['r']);
    const wa = await a.join('r', { meta: { name: 'Alice' } });
    expect(wa.peerId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(wa.members).toEqual([]);
    expect(wa.replyTo).toBe('join-r');
    const b = await client('bob', ['r']);
    const wb = await b.join('r');
    expect(wb.members).toEqual([{ peerId: wa.peerId, userId: 'alice', meta: { name: 'Alice' } }]);
    expect((await a.next('peer-joined')).peer).toEqual({ peerId: wb.peerId, userId: 'bob' });
    await b.close();
    expect(await a.next('peer-left')).toEqual({ type: 'peer-left', peerId: wb.peerId, reason: 'left' });
  });

  it('refuses a room the token does not grant with forbidden_room, and the connection stays usable', async () => {
    const a = await client('alice', ['r']);
    a.send({ type: 'join', id: 7, room: 'other' });
    expect(await a.next('error')).toMatchObject({ code: 'forbidden_room', replyTo: 7 });
    await a.join('r');
  });

  it('caps the room size with room_full', async () => {
    for (const u of ['a', 'b', 'c']) await (await client(u, ['r'])).join('r');
    const d = await client('d', ['r']);
    d.send({ type: 'join', id: 'x', room: 'r' });
    expect(await d.next('error')).toMatchObject({ code: 'room_full', replyTo: 'x' });
  });

  it('refuses a second join with already_joined; leave answers left and frees the seat', async () => {
    const a = await client('a', ['r', 's']);
    await a.join('r');
    a.send({ type: 'join', id: 2, room: 's' });
    expect(await a.next('error')).toMatchObject({ code: 'already_joined', replyTo: 2 });
    a.send({ type: 'leave', id: 3 });
    expect(await a.next('left')).toEqual({ type: 'left', replyTo: 3 });
    await a.join('s');
  });
});

describe('operations', () => {
  it('reports connections, rooms, messages by type and errors by code in /metrics; /healthz and /readyz answer', async () => {
    const a = await client('alice', ['r']);
    const b = await client('bob', ['r']);
    await a.join('r');
    await b.join('r');
    a.send({ type: 'teleport' });
    await a.next('error');
    const text = await (await fetch(`${sig.httpUrl}/metrics`)).text();
    expect(text).toMatch(/signaling_connections 2/);
    expect(text).toMatch(/signaling_rooms 1/);
    expect(text).toMatch(/signaling_messages_in_total\{type="join"} 2/);
    expect(text).toMatch(/signaling_messages_out_total\{type="welcome"} 2/);
    expect(text).toMatch(/signaling_errors_total\{code="unknown_type"} 1/);
    expect((await fetch(`${sig.httpUrl}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${sig.httpUrl}/readyz`)).json()).toEqual({ ready: true });
  });

  it('mints TURN REST API credentials at POST /v1/turn-credentials for a valid bearer token only', async () => {
    const url = `${sig.httpUrl}/v1/turn-credentials`;
    expect((await fetch(url, { method: 'POST' })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status).toBe(
      401,
    );
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${sig.token('alice', ['r'])}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { username: string; password: string; ttl: number; uris: string[] };
    expect(body.username).toMatch(/^\d+:alice:cg$/); // bound to the token's only room, 'r'
    expect(body.uris).toEqual(['turn:127.0.0.1:3479?transport=udp', 'stun:127.0.0.1:3479']);
    expect(body.ttl).toBe(14400);
    const { verifyTurnCredential } = await import('../turn/credentials/rest-credentials.js');
    expect(verifyTurnCredential(body.username, body.password, ['turn-test-secret'])).toMatchObject({
      ok: true,
      userId: 'alice',
      room: 'r',
    });
    // A token of several rooms must say which one; a room it does not grant is refused.
    const both = { authorization: `Bearer ${sig.token('alice', ['r', 's'])}` };
    const unnamed = await fetch(url, { method: 'POST', headers: both });
    expect(unnamed.status).toBe(400);
    expect(await unnamed.json()).toMatchObject({ code: 'bad_request' });
    expect((await fetch(`${url}?room=s`, { method: 'POST', headers: both })).status).toBe(200);
    const other = await fetch(`${url}?room=x`, { method: 'POST', headers: both });
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ code: 'forbidden' });
  });
});

describe('relay', () => {
  async function pair() {
    const a = await client('alice', ['r']);
    const b = await client('bob', ['r']);
    const wa = await a.join('r');
    const wb = await b.join('r');
    return { a, b, wa, wb };
  }

  it('update-metadata: the others get member-updated, the sender its answer, a later joiner the new meta', async () => {
    const { a, b, wa } = await pair();
    a.send({ type: 'update-metadata', id: 'm', meta: { name: 'Alice', hand: true } });
    const mine = await a.next('member-updated');
    expect(mine).toEqual({
      type: 'member-updated',
      replyTo: 'm',
      peer: { peerId: wa.peerId, userId: 'alice', meta: { name: 'Alice', hand: true } },
    });
    expect(await b.next('member-updated')).toEqual({ type: 'member-updated', peer: mine.peer });
    const c = await client('carol', ['r']);
    expect((await c.join('r')).members.find((m) => m.peerId === wa.peerId)?.meta).toEqual({
      name: 'Alice',
      hand: true,
    });
    a.send({ type: 'update-metadata', id: 'bad', meta: { name: { nested: true } } });
    expect(await a.next('error')).toMatchObject({ code: 'bad_message', replyTo: 'bad' });
  });

  it('forwards a signal to one peer of the room with `from` stamped by the server', async () => {
    const { a, b, wa, wb } = await pair();
    a.send({ type: 'signal', to: wb.peerId, signal: { type: 'offer', sdp: 'v=0' } });
    expect(await b.next('signal')).toEqual({
      type: 'signal',
      from: wa.peerId,
      signal: { type: 'offer', sdp: 'v=0' },
    });
  });

  it('refuses a spoofed `from` field as bad_message and delivers nothing', async () => {
    const { a, b, wb } = await pair();
    a.send({ type: 'signal', id: 1, to: wb.peerId, from: wb.peerId, signal: { type: 'offer', sdp: 'v=0' } });
    expect(await a.next('error')).toMatchObject({ code: 'bad_message', replyTo: 1 });
    a.send({ type: 'ping', id: 'p' });
    await a.next('pong');
    expect(b.all('signal')).toEqual([]);
  });

  it('answers not_in_room for a peer in another room, and for an unknown peer; never a silent drop', async () => {
    const { a } = await pair();
    const c = await client('carol', ['elsewhere']);
    const wc = await c.join('elsewhere');
    a.send({ type: 'signal', id: 'x', to: wc.peerId, signal: { type: 'offer', sdp: 'v=0' } });
    expect(await a.next('error')).toMatchObject({ code: 'not_in_room', replyTo: 'x' });
    a.send({ type: 'signal', id: 'y', to: 'AAAAAAAAAAAAAAAA', signal: { type: 'offer', sdp: 'v=0' } });
    expect(await a.next('error')).toMatchObject({ code: 'not_in_room', replyTo: 'y' });
    expect(c.all('signal')).toEqual([]);
  });

  it('answers not_in_room when signalling before joining', async () => {
    const a = await client('a', ['r']);
    a.send({ type: 'signal', id: 1, to: 'AAAAAAAAAAAAAAAA', signal: { type: 'offer', sdp: 'v=0' } });
    expect(await a.next('error')).toMatchObject({ code: 'not_in_room', replyTo: 1 });
  });

  it('relays fallback data to one peer or to all the others', async () => {
    const { a, b, wa, wb } = await pair();
    const c = await client('carol', ['r']);
    await c.join('r');
    a.send({ type: 'data', to: wb.peerId, payload: 'hi', seq: 1 });
    expect(await b.next('data')).toMatchObject({ from: wa.peerId, payload: 'hi', seq: 1 });
    a.send({ type: 'data', payload: 'all' });
    expect((await b.next('data')).payload).toBe('all');
    expect((await c.next('data')).payload).toBe('all');
    expect(a.all('data')).toEqual([]);
  });
});

describe('bad input gets a stable code, the connection and the room live on', () => {
  it.each([
    ['malformed JSON', '{"type":', 'bad_message'],
    ['a non-object', '42', 'unknown_type'],
    ['an unknown type', JSON.stringify({ type: 'teleport', id: 5 }), 'unknown_type'],
    [
      'a bad signal shape',
      JSON.stringify({ type: 'signal', id: 6, to: 'AAAAAAAAAAAAAAAA', signal: { type: 'offer' } }),
      'bad_message',
    ],
    ['an oversize frame', JSON.stringify({ type: 'ping', pad: 'x'.repeat(5000) }), 'payload_too_large'],
  ])('%s → %s', async (_name, frame, code) => {
    const a = await client('alice', ['r']);
    const b = await client('bob', ['r']);
    const wa = await a.join('r');
    const wb = await b.join('r');
    a.send(frame);
    expect((await a.next('error')).code).toBe(code);
    a.send({ type: 'signal', to: wb.peerId, signal: { type: 'answer', sdp: 'ok' } });
    expect((await b.next('signal')).from).toBe(wa.peerId);
    expect(b.all('peer-left')).toEqual([]);
  });

  it('echoes the request id on a bad message whose id could be read', async () => {
    const a = await client('alice', ['r']);
    a.send({ type: 'join', id: 'j1', room: '' });
    expect(await a.next('error')).toMatchObject({ code: 'bad_message', replyTo: 'j1' });
  });

  it('refuses a binary frame with bad_message', async () => {
    const a = await client('alice', ['r']);
    a.send(Buffer.from([1, 2, 3]));
    expect((await a.next('error')).code).toBe('bad_message');
  });

  it('drops messages past the rate limit with one rate_limited error, then recovers', async () => {
    const a = await client('alice', ['r']);
    const b = await client('bob', ['r']);
    await a.join('r');
    const wb = await b.join('r');
    for (let i = 0; i < 60; i++) a.send({ type: 'data', to: wb.peerId, payload: String(i) });
    expect((await a.next('error')).code).toBe('rate_limited');
    await new Promise((r) => setTimeout(r, 1100)); // the bucket refills (20/s)
    a.send({ type: 'data', to: wb.peerId, payload: 'after' });
    await expect.poll(() => b.all('data').map((d) => d.payload)).toContain('after');
    const got = b.all('data').length;
    expect(got).toBeGreaterThanOrEqual(19); // the burst got through (one token went to join)
    expect(got).toBeLessThan(60);
    expect(a.all('error').filter((e) => e.code === 'rate_limited')).toHaveLength(1);
  });
});
