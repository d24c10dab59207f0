/**
 * Sessions that cannot outlive their grant or be lost (issue 11's measured defects, each reproduced the
 * way a client or an attacker meets it): token expiry on open connections and its renewal, a resume while
 * the old socket is still open, a signal nested too deep to serialize, oversize frames against the rate
 * limit, what a 401 tells a stranger, and the development token route with a real secret.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../test-support/sdk-fakes.js';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { TestClient, UpgradeRefused } from '../test-support/ws-client.js';
import { ERROR_CODES } from './protocol/index.js';
import { loadSignalingConfig } from './config.js';

const servers: RunningSignaling[] = [];
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(env: Record<string, string> = {}, clock?: FakeClock) {
  const s = await startSignaling(
    { HEARTBEAT_INTERVAL_MS: '600000', JWT_CLOCK_SKEW_S: '0', ...env },
    clock ? { clock } : {},
  );
  servers.push(s);
  return s;
}
async function connect(s: RunningSignaling, token: string) {
  const c = await TestClient.connect(s.wsUrl, { token });
  clients.push(c);
  return c;
}
const nowSec = (clock: FakeClock) => Math.floor(clock.now() / 1000);

describe('token lifetime on an open connection', () => {
  it('closes the connection with token_expired when its token expires, and TURN credentials never outlive it', async () => {
    const clock = new FakeClock();
    const s = await server({}, clock);
    const c = await connect(s, s.token('alice', ['r', 'other'], { ttlSec: 120, issuedAt: nowSec(clock) }));
    const welcome = await c.join('r');
    expect(welcome.tokenExpiresAt).toBe(nowSec(clock) + 120);
    expect(welcome.iceServersExpireAt).toBeLessThanOrEqual(welcome.tokenExpiresAt);
    await clock.advance(100_000);
    c.send({ type: 'turn-credentials', id: 't' });
    const creds = await c.next('turn-credentials');
    expect(creds.iceServersExpireAt).toBeLessThanOrEqual(welcome.tokenExpiresAt);
    await clock.advance(20_001);
    expect(await c.closed).toEqual({ code: ERROR_CODES.token_expired.close, reason: 'token_expired' });
  });

  it('a refresh-token over the open socket extends it; another user’s or a room-less token is refused and changes nothing', async () => {
    const clock = new FakeClock();
    const s = await server({}, clock);
    const issuedAt = nowSec(clock);
    const c = await connect(s, s.token('alice', ['r'], { ttlSec: 60, issuedAt }));
    await c.join('r');
    c.send({ type: 'refresh-token', id: 'bob', token: s.token('bob', ['r'], { ttlSec: 600, issuedAt }) });
    expect(await c.next('error')).toMatchObject({ code: 'unauthorized', replyTo: 'bob' });
    c.send({ type: 'refresh-token', id: 'x', token: s.token('alice', ['x'], { ttlSec: 600, issuedAt }) });
    expect(await c.next('error')).toMatchObject({ code: 'forbidden_room', replyTo: 'x' });
    c.send({ type: 'refresh-token', id: 'ok', token: s.token('alice', ['r'], { ttlSec: 600, issuedAt }) });
    expect(await c.next('token-refreshed')).toEqual({
      type: 'token-refreshed',
      replyTo: 'ok',
      expiresAt: issuedAt + 600,
    });
    await clock.advance(300_000);
    c.send({ type: 'ping', id: 'still' });
    expect(await c.next('pong')).toMatchObject({ replyTo: 'still' });
    c.send({ type: 'turn-credentials', id: 't' });
    expect((await c.next('turn-credentials')).iceServersExpireAt).toBeLessThanOrEqual(issuedAt + 600);
    await clock.advance(300_001);
    expect((await c.closed).code).toBe(ERROR_CODES.token_expired.close);
  });

  it('a new upgrade with an expired token gets a 401 that says so without echoing configuration', async () => {
    const s = await server({ JWT_AUDIENCE: 'secret-audience-name' });
    const expired = s.token('alice', ['r'], { ttlSec: 1, issuedAt: Math.floor(Date.now() / 1000) - 100 });
    const refusal = await TestClient.connect(s.wsUrl, { token: expired }).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(UpgradeRefused);
    expect(JSON.parse((refusal as UpgradeRefused).body)).toEqual({
      code: 'unauthorized',
      message: 'token expired',
    });
    const other = await startSignaling({ JWT_AUDIENCE: 'another-audience' });
    servers.push(other);
    const foreign = await TestClient.connect(s.wsUrl, { token: other.token('alice', ['r']) }).catch(
      (e: unknown) => e,
    );
    const body = (foreign as UpgradeRefused).body;
    expect(JSON.parse(body)).toEqual({ code: 'unauthorized', message: 'token audience not accepted' });
    expect(body).not.toContain('secret-audience-name');
  });
});

describe('resume while the old socket is still open', () => {
  it('the newest connection owns the seat: the old socket is closed session_replaced, its drop changes nothing, signals reach the new one', async () => {
    const s = await server({ RESUME_WINDOW_MS: '2000' });
    const a = await connect(s, s.token('alice', ['r']));
    await a.join('r');
    const old = await connect(s, s.token('bob', ['r']));
    const first = await old.join('r');
    // The SDK gave up on `old` (no pong for 20 s) but the server has not noticed yet.
    const fresh = await connect(s, s.token('bob', ['r']));
    const resumed = await fresh.join('r', { resume: { sessionId: first.sessionId, peerId: first.peerId } });
    expect(resumed).toMatchObject({ peerId: first.peerId, resumed: true });
    expect(await old.closed).toEqual({
      code: ERROR_CODES.session_replaced.close,
      reason: 'session_replaced',
    });
    a.send({ type: 'signal', id: 's', to: first.peerId, signal: { type: 'offer', sdp: 'after-takeover' } });
    expect((await fresh.next('signal')).signal).toEqual({ type: 'offer', sdp: 'after-takeover' });
    // Past the resume window nobody is told the connected peer left.
    await new Promise((r) => setTimeout(r, 2300));
    expect(a.all('peer-left')).toEqual([]);
    a.send({ type: 'signal', to: first.peerId, signal: { type: 'answer', sdp: 'later' } });
    expect((await fresh.next('signal')).signal).toEqual({ type: 'answer', sdp: 'later' });
    expect(a.all('error')).toEqual([]);
  });
});

describe('one accepted message can never lose others', () => {
  /** JSON text of `{"x":[[[…1…]]]}` n arrays deep, built as text: too deep for a recursive serializer. */
  const deepInit = (n: number) => `{"x":${'['.repeat(n)}1${']'.repeat(n)}}`;
  const signalWithInit = (to: string, init: string) =>
    `{"type":"signal","id":"deep","to":"${to}","signal":{"type":"transceiverRequest","transceiverRequest":{"kind":"video","init":${init}}}}`;

  it('refuses a signal nested past the bound with bad_message; the sender keeps its seat and the next signal flows', async () => {
    const s = await server();
    const a = await connect(s, s.token('alice', ['r']));
    const b = await connect(s, s.token('bob', ['r']));
    await a.join('r');
    const wb = await b.join('r');
    a.send(signalWithInit(wb.peerId, deepInit(2000)));
    expect(await a.next('error')).toMatchObject({ code: 'bad_message', replyTo: 'deep' });
    a.send({ type: 'signal', to: wb.peerId, signal: { type: 'offer', sdp: 'fine' } });
    expect((await b.next('signal')).signal).toEqual({ type: 'offer', sdp: 'fine' });
    expect(a.all('error').map((e) => e.code)).toEqual(['bad_message']);
  });

  it('a signal too deep for the bound, sent to a dropped peer, is refused at once and the offer behind it still reaches the resumed peer', async () => {
    const s = await server({ RESUME_WINDOW_MS: '5000' });
    const a = await connect(s, s.token('alice', ['r']));
    await a.join('r');
    const b = await connect(s, s.token('bob', ['r']));
    const wb = await b.join('r');
    b.ws.terminate();
    await b.closed;
    await new Promise((r) => setTimeout(r, 50));
    a.send(signalWithInit(wb.peerId, deepInit(20_000)));
    a.send({ type: 'signal', to: wb.peerId, signal: { type: 'offer', sdp: 'queued-offer' } });
    expect(await a.next('error')).toMatchObject({ code: 'bad_message', replyTo: 'deep' });
    const again = await connect(s, s.token('bob', ['r']));
    await again.join('r', { resume: { sessionId: wb.sessionId, peerId: wb.peerId } });
    expect((await again.next('signal')).signal).toEqual({ type: 'offer', sdp: 'queued-offer' });
    await new Promise((r) => setTimeout(r, 100));
    expect(again.all('error')).toEqual([]);
  });
});

describe('limits count everything a client sends', () => {
  it('oversize frames count against the rate limit', async () => {
    const s = await server({ RATE_LIMIT_PER_S: '10', RATE_LIMIT_BURST: '20', MAX_MESSAGE_BYTES: '1024' });
    const c = await connect(s, s.token('alice', ['r']));
    const big = 'x'.repeat(2000);
    for (let i = 0; i < 300; i++) c.send(big);
    await expect.poll(() => c.all('error').some((e) => e.code === 'rate_limited')).toBe(true);
    expect(c.all('error').filter((e) => e.code === 'payload_too_large').length).toBeLessThanOrEqual(25);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  });
});

describe('the development token route', () => {
  it('is off with a real JWT secret even when NODE_ENV is unset, and on only by explicit opt-in', async () => {
    const base = { NODE_ENV: '', JWT_SECRET: 'a-real-secret-a-real-secret-a-real-secret', TURN_SECRETS: 't' };
    expect(loadSignalingConfig(base).devTokens).toBe(false);
    expect(loadSignalingConfig({ ...base, DEV_TOKENS: 'true' }).devTokens).toBe(true);
    expect(loadSignalingConfig({ NODE_ENV: '' }).devTokens).toBe(true);
    const s = await server({ NODE_ENV: '' });
    const res = await fetch(`${s.httpUrl}/dev/token?room=r&user=mallory`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 'not_found', message: ERROR_CODES.not_found.message });
  });
});
