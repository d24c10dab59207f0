/**
 * The relay's protocol rules over real UDP on loopback, with the clock injected so lifetimes, nonces and
 * expiry are tested without sleeping. Interop with clients we did not write is in turn/interop/.
 */
import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { Attr, Method, StunClass, StunWriter, getAttr, randomTransactionId } from '../stun/message.js';
import { TurnClient, errorCode, udpSocket, until } from '../../test-support/turn-client.js';
import { NonceIssuer, longTermKey } from './auth.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const SECRET = 'server-test-secret';
const LOOPBACK = { address: '127.0.0.1' };
let clock = Date.now();
const defer = closeAfterEach();
const closing = <T extends { close(): unknown }>(x: T): T => defer(x, (v) => v.close());

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  clock = Date.now();
  const r = await TurnServer.start({
    ...testRelayOptions({
      realm: 'test.realm',
      secrets: ['old-secret', SECRET],
      minPort: 47000,
      maxPort: 47999,
      allowedPeers: ['127.0.0.0/8'],
    }),
    now: () => clock,
    sweepIntervalMs: 3_600_000, // swept by hand
    ...options,
  });
  closing(r);
  return r;
}

async function client(r: TurnServer, user = 'alice', ttlSeconds = 600): Promise<TurnClient> {
  const cred = mintTurnCredential({ secret: SECRET, userId: user, ttlSeconds, now: clock });
  const c = await TurnClient.connect(
    { host: '127.0.0.1', port: r.address.port },
    cred.username,
    cred.credential,
  );
  closing(c);
  return c;
}

/** A peer on loopback that records what it gets and can answer. */
async function peer(): Promise<{ socket: Socket; got: Buffer[]; addr: { address: string; port: number } }> {
  const socket = await udpSocket();
  closing(socket);
  const got: Buffer[] = [];
  socket.on('message', (m: Buffer) => got.push(m));
  return { socket, got, addr: { ...LOOPBACK, port: socket.address().port } };
}

function lifetimeOf(r: { message: Parameters<typeof getAttr>[0] }): number | undefined {
  return getAttr(r.message, Attr.lifetime)?.readUInt32BE(0);
}

describe('TurnServer: auth', () => {
  it('answers a Binding request without auth', async () => {
    const c = await client(await relay());
    const m = await c.transact((id) => new StunWriter(Method.binding, StunClass.request, id).build());
    expect(m?.cls).toBe(StunClass.success);
    expect(getAttr(m!, Attr.xorMappedAddress)).toBeDefined();
  });

  it('answers a Binding with CHANGE-REQUEST 420 and UNKNOWN-ATTRIBUTES, as coturn does (RFC 8489 §6.3.1)', async () => {
    const c = await client(await relay());
    const change = Buffer.from([0, 0, 0, 0x06]); // change IP and port (RFC 5780 §7.2)
    const m = await c.transact((id) =>
      new StunWriter(Method.binding, StunClass.request, id).add(Attr.changeRequest, change).build(),
    );
    expect(m?.cls).toBe(StunClass.error);
    expect(errorCode(m!)).toBe(420);
    expect(getAttr(m!, Attr.unknownAttributes)?.readUInt16BE(0)).toBe(Attr.changeRequest);
    // A comprehension-optional attribute it does not know changes nothing.
    const ok = await c.transact((id) =>
      new StunWriter(Method.binding, StunClass.request, id).add(0x8050, Buffer.alloc(4)).build(),
    );
    expect(ok?.cls).toBe(StunClass.success);
  });

  it('asks for credentials with 401, REALM and NONCE, then allocates with integrity on the answer', async () => {
    const r = await relay();
    const c = await client(r);
    const first = await c.request(
      Method.allocate,
      (w) => w.add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0])),
      {
        sign: false,
      },
    );
    expect(first.code).toBe(401);
    expect(getAttr(first.message, Attr.realm)?.toString()).toBe('test.realm');
    expect(getAttr(first.message, Attr.nonce)).toBeDefined();
    const ok = await c.allocate();
    expect(ok).toMatchObject({ code: 0, integrity: true });
    expect(c.relayed?.address).toBe('127.0.0.1');
    expect(r.stats()).toMatchObject({ allocations: 1, relaySockets: 1 });
  });

  it('accepts every configured secret and refuses forged and expired credentials', async () => {
    const r = await relay();
    const rotated = mintTurnCredential({ secret: 'old-secret', userId: 'bob', ttlSeconds: 60, now: clock });
    const forged = mintTurnCredential({ secret: 'guess', userId: 'eve', ttlSeconds: 60, now: clock });
    const expired = mintTurnCredential({
      secret: SECRET,
      userId: 'eve',
      ttlSeconds: 60,
      now: clock - 120_000,
    });
    for (const [cred, code] of [
      [rotated, 0],
      [forged, 401],
      [expired, 401],
    ] as const) {
      const c = await TurnClient.connect(
        { host: '127.0.0.1', port: r.address.port },
        cred.username,
        cred.credential,
      );
      closing(c);
      expect((await c.allocate()).code).toBe(code);
    }
    expect(r.stats().allocations).toBe(1);
  });

  it('keeps refreshing a live allocation after its credential expired, as coturn does', async () => {
    const r = await relay();
    const c = await client(r, 'alice', 5);
    expect((await c.allocate()).code).toBe(0);
    clock += 60_000;
    expect((await c.refresh(600)).code).toBe(0);
    const p = await peer();
    expect((await c.createPermission(p.addr)).code).toBe(0);
    const fresh = await client(r, 'alice', 5); // minted 60 s ago, now expired
    fresh.setCredentials(c.username, c.password);
    expect((await fresh.allocate()).code).toBe(401);
  });

  it('issues stateless nonces: expiry and client address are checked, nothing is stored', () => {
    let t = 1_000_000;
    const nonces = new NonceIssuer(600, () => t, Buffer.alloc(32, 1));
    const n = nonces.issue('127.0.0.1');
    expect(nonces.valid(n, '127.0.0.1')).toBe(true);
    expect(new NonceIssuer(600, () => t, Buffer.alloc(32, 1)).valid(n, '127.0.0.1')).toBe(true);
    expect(nonces.valid(n, '127.0.0.2')).toBe(false);
    expect(nonces.valid(n.slice(0, -1) + (n.endsWith('0') ? '1' : '0'), '127.0.0.1')).toBe(false);
    expect(nonces.valid('__proto__', '127.0.0.1')).toBe(false);
    t += 601_000;
    expect(nonces.valid(n, '127.0.0.1')).toBe(false);
  });

  it('answers an expired nonce with 438 and a fresh one, and the client goes on with it', async () => {
    const r = await relay({ nonceLifetimeSec: 60 });
    const c = await client(r);
    const challenge = await c.request(Method.allocate, (w) => w, { sign: false });
    const nonce = getAttr(challenge.message, Attr.nonce)!.toString();
    expect((await c.allocate()).code).toBe(0);
    const key = longTermKey(c.username, 'test.realm', c.password);
    const signedRefresh = (n: string) => (id: Buffer) =>
      new StunWriter(Method.refresh, StunClass.request, id)
        .addText(Attr.username, c.username)
        .addText(Attr.realm, 'test.realm')
        .addText(Attr.nonce, n)
        .build({ integrityKey: key });
    expect(errorCode((await c.transact(signedRefresh(nonce)))!)).toBe(0);
    clock += 61_000;
    const stale = (await c.transact(signedRefresh(nonce)))!;
    expect(errorCode(stale)).toBe(438);
    const fresh = getAttr(stale, Attr.nonce)!.toString();
    expect(fresh).not.toBe(nonce);
    expect(errorCode((await c.transact(signedRefresh(fresh)))!)).toBe(0);
  });

  it('answers integrity without USERNAME, REALM or NONCE with 400, and a wrong realm with 401', async () => {
    const r = await relay();
    const c = await client(r);
    const challenge = await c.request(Method.allocate, (w) => w, { sign: false });
    const nonce = getAttr(challenge.message, Attr.nonce)!.toString();
    const allocate = (realm: string | null) => (id: Buffer) => {
      const w = new StunWriter(Method.allocate, StunClass.request, id)
        .add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0]))
        .addText(Attr.username, c.username)
        .addText(Attr.nonce, nonce);
      if (realm !== null) w.addText(Attr.realm, realm);
      return w.build({ integrityKey: longTermKey(c.username, realm ?? 'test.realm', c.password) });
    };
    expect(errorCode((await c.transact(allocate(null)))!)).toBe(400);
    expect(errorCode((await c.transact(allocate('other.realm')))!)).toBe(401);
    expect(r.stats().allocations).toBe(0);
    expect(r.stats().counters.allocate.get('400')).toBe(1);
  });

  it('refuses requests on an allocation signed by another user with 441', async () => {
    const r = await relay();
    const c = await client(r);
    expect((await c.allocate()).code).toBe(0);
    const other = mintTurnCredential({ secret: SECRET, userId: 'mallory', ttlSeconds: 60, now: clock });
    c.setCredentials(other.username, other.credential);
    expect((await c.refresh(600)).code).toBe(441);
  });
});

describe('TurnServer: allocations', () => {
  it('grants the lifetime asked for within [default, max] (RFC 8656 §7.2)', async () => {
    const r = await relay({ maxLifetimeSec: 1800 });
    const ask = async (lifetime: number) => {
      const c = await client(r, `u${lifetime}`);
      return lifetimeOf(await c.allocate((w) => w.addUint32(Attr.lifetime, lifetime)));
    };
    expect(await ask(1200)).toBe(1200);
    expect(await ask(99_999)).toBe(1800);
    expect(await ask(30)).toBe(600);
  });

  it('answers a retransmitted Allocate with the same response and another with 437', async () => {
    const r = await relay();
    const c = await client(r);
    const first = await c.allocate();
    expect(first.code).toBe(0);
    const again = await c.transact(c.lastRequest!);
    expect(again?.cls).toBe(StunClass.success);
    expect((await c.allocate()).code).toBe(437);
    expect(r.stats().allocations).toBe(1);
  });

  it('enforces the quota per user (486) and in total (508)', async () => {
    const r = await relay({ userQuota: 2, totalQuota: 3 });
    const codes: number[] = [];
    for (const user of ['a', 'a', 'a', 'b', 'c']) codes.push((await (await client(r, user)).allocate()).code);
    expect(codes).toEqual([0, 0, 486, 0, 508]);
  });

  it.each([
    ['no REQUESTED-TRANSPORT', (w: StunWriter) => w, 400],
    ['TCP', (w: StunWriter) => w.add(Attr.requestedTransport, Buffer.from([6, 0, 0, 0])), 442],
  ])('refuses an Allocate with %s', async (_name, build, code) => {
    const c = await client(await relay());
    expect((await c.request(Method.allocate, build)).code).toBe(code);
  });

  it('refuses an IPv6 relay with 440 when it listens on no IPv6 address', async () => {
    const c = await client(await relay({ hosts: ['0.0.0.0'] }));
    const r = await c.allocate((w) => w.add(Attr.requestedAddressFamily, Buffer.from([2, 0, 0, 0])));
    expect(r.code).toBe(440);
  });

  it('answers unknown comprehension-required attributes with 420 and ignores optional ones', async () => {
    const c = await client(await relay());
    const df = await c.allocate((w) =>
      w.add(Attr.dontFragment, Buffer.alloc(0)).add(0x0031, Buffer.alloc(4)),
    );
    expect(df.code).toBe(420);
    expect(getAttr(df.message, Attr.unknownAttributes)?.toString('hex')).toBe('001a0031');
    expect((await c.allocate((w) => w.add(0x8077, Buffer.alloc(4)))).code).toBe(0);
  });

  it('gives an even port for EVEN-PORT and keeps the next one for RESERVATION-TOKEN (RFC 8656 §14.6)', async () => {
    const r = await relay();
    const a = await client(r);
    const first = await a.allocate((w) => w.add(Attr.evenPort, Buffer.from([0x80])));
    expect(first.code).toBe(0);
    expect(a.relayed!.port % 2).toBe(0);
    const token = getAttr(first.message, Attr.reservationToken);
    expect(token).toHaveLength(8);
    expect(r.stats().relaySockets).toBe(2);
    const b = await client(r, 'bob');
    expect((await b.allocate((w) => w.add(Attr.reservationToken, token!))).code).toBe(0);
    expect(b.relayed!.port).toBe(a.relayed!.port + 1);
    expect(r.stats()).toMatchObject({ allocations: 2, relaySockets: 2 });
    const c = await client(r, 'carol');
    expect((await c.allocate((w) => w.add(Attr.reservationToken, token!))).code).toBe(508);
  });

  it('gives an Allocate asking for LIFETIME 0 the default, capped at the maximum', async () => {
    const r = await relay({ maxLifetimeSec: 300 });
    const c = await client(r);
    expect(lifetimeOf(await c.allocate((w) => w.addUint32(Attr.lifetime, 0)))).toBe(300);
  });

  it.each([
    [
      'EVEN-PORT with RESERVATION-TOKEN',
      (w: StunWriter) => w.add(Attr.evenPort, Buffer.from([0])).add(Attr.reservationToken, Buffer.alloc(8)),
    ],
    [
      'a malformed REQUESTED-ADDRESS-FAMILY',
      (w: StunWriter) => w.add(Attr.requestedAddressFamily, Buffer.from([1, 0])),
    ],
    [
      'an unknown address family',
      (w: StunWriter) => w.add(Attr.requestedAddressFamily, Buffer.from([3, 0, 0, 0])),
    ],
  ])('refuses an Allocate with %s with 400', async (_name, extra) => {
    const r = await relay();
    expect((await (await client(r)).allocate(extra)).code).toBe(400);
    expect(r.stats()).toMatchObject({ allocations: 0, relaySockets: 0 });
  });

  it('holds the user quota for Allocates sent at once from several ports', async () => {
    const r = await relay({ userQuota: 2 });
    const clients = await Promise.all([client(r), client(r), client(r)]);
    await Promise.all(clients.map((c) => c.request(Method.allocate, (w) => w, { sign: false })));
    const codes = await Promise.all(clients.map((c) => c.allocate().then((a) => a.code)));
    expect(codes.sort()).toEqual([0, 0, 486]);
  });

  it('counts reserved ports against the quotas and lets them expire', async () => {
    const r = await relay({ userQuota: 2, totalQuota: 3 });
    const a = await client(r);
    const first = await a.allocate((w) => w.add(Attr.evenPort, Buffer.from([0x80])));
    const token = getAttr(first.message, Attr.reservationToken)!;
    expect(r.stats().relaySockets).toBe(2);
    expect((await (await client(r)).allocate()).code).toBe(486); // 1 allocation + 1 reserved port
    expect((await (await client(r, 'bob')).allocate()).code).toBe(0);
    expect((await (await client(r, 'carol')).allocate()).code).toBe(508);
    clock += 31_000;
    r.sweep();
    await until(() => r.stats().relaySockets === 2);
    expect(r.stats().relaySockets).toBe(2);
    expect((await (await client(r, 'dave')).allocate((w) => w.add(Attr.reservationToken, token))).code).toBe(
      508,
    );
    expect((await (await client(r, 'dave')).allocate()).code).toBe(0);
  });

  it('deletes on Refresh 0, expires unrefreshed allocations, and frees their ports', async () => {
    const r = await relay({ defaultLifetimeSec: 600 });
    const a = await client(r, 'a');
    const b = await client(r, 'b');
    expect((await a.allocate()).code).toBe(0);
    expect((await b.allocate()).code).toBe(0);
    expect(r.stats().relaySockets).toBe(2);
    expect(lifetimeOf(await a.refresh(0))).toBe(0);
    expect((await a.refresh(600)).code).toBe(437);
    clock += 601_000;
    r.sweep();
    await until(() => r.stats().relaySockets === 0);
    expect(r.stats()).toMatchObject({ allocations: 0, relaySockets: 0 });
    for (const port of [a.relayed!.port, b.relayed!.port]) {
      await new Promise<void>((resolve, reject) => {
        const again = createSocket('udp4');
        again.once('error', reject);
        again.bind(port, '127.0.0.1', () => again.close(() => resolve()));
      });
    }
  });
});

describe('TurnServer: relaying', () => {
  it('relays Send/Data indications and ChannelData both ways once permitted', async () => {
    const r = await relay();
    const c = await client(r);
    const p = await peer();
    p.socket.on('message', (_m, rinfo) => p.socket.send(Buffer.from('pong'), rinfo.port, rinfo.address));
    expect((await c.allocate()).code).toBe(0);
    c.send(p.addr, Buffer.from('dropped')); // no permission yet
    expect((await c.createPermission(p.addr)).code).toBe(0);
    c.send(p.addr, Buffer.from('hello'));
    expect(await until(() => c.received.length === 1)).toBe(true);
    expect(c.received[0]).toMatchObject({ data: Buffer.from('pong'), peer: { port: p.addr.port } });
    const bound = await c.channelBind(0x4001, p.addr);
    expect(bound).toMatchObject({ code: 0, integrity: true });
    c.sendChannel(0x4001, Buffer.from('chan'));
    expect(await until(() => c.received.length === 2)).toBe(true);
    expect(c.received[1]).toMatchObject({ channel: 0x4001, data: Buffer.from('pong') });
    expect(p.got.map(String)).toEqual(['hello', 'chan']);
    expect(r.stats().counters).toMatchObject({ droppedNoPermission: 1, channelDataIn: 1, channelDataOut: 1 });
  });

  it('drops data from peers without a permission, and after the permission expires', async () => {
    const r = await relay();
    const c = await client(r);
    const p = await peer();
    expect((await c.allocate()).code).toBe(0);
    const relayed = c.relayed!;
    p.socket.send(Buffer.from('early'), relayed.port, relayed.address);
    expect(await until(() => r.stats().counters.droppedNoPermission === 1)).toBe(true);
    expect((await c.createPermission(p.addr)).code).toBe(0);
    p.socket.send(Buffer.from('ok'), relayed.port, relayed.address);
    expect(await until(() => c.received.length === 1)).toBe(true);
    clock += 301_000;
    expect((await c.refresh(600)).code).toBe(0);
    r.sweep();
    p.socket.send(Buffer.from('late'), relayed.port, relayed.address);
    expect(await until(() => r.stats().counters.droppedNoPermission === 2)).toBe(true);
    expect(c.received).toHaveLength(1);
  });

  it.each([
    ['loopback by default', {}, '127.0.0.1'],
    ['cloud metadata', { allowedPeers: ['127.0.0.0/8'] }, '169.254.169.254'],
    ['a private address', { allowedPeers: ['127.0.0.0/8'] }, '10.0.0.1'],
    [
      'an explicitly denied one',
      { allowedPeers: ['127.0.0.0/8'], deniedPeers: ['127.0.0.2/32'] },
      '127.0.0.2',
    ],
  ])('refuses permissions and channels to %s with 403', async (_name, options, address) => {
    const r = await relay({ allowedPeers: [], ...options });
    const c = await client(r);
    expect((await c.allocate()).code).toBe(0);
    expect((await c.createPermission({ address, port: 9 })).code).toBe(403);
    expect((await c.channelBind(0x4000, { address, port: 9 })).code).toBe(403);
    expect(r.stats().counters.permissionDenied).toBe(2);
  });

  it('caps the peers one allocation may hold permissions for with 508 (RFC 8656 §10.2)', async () => {
    const r = await relay({ maxPermissions: 2 });
    const c = await client(r);
    expect((await c.allocate()).code).toBe(0);
    expect(
      (await c.createPermission({ address: '127.0.0.1', port: 1 }, { address: '127.0.0.2', port: 1 })).code,
    ).toBe(0);
    expect((await c.createPermission({ address: '127.0.0.1', port: 2 })).code).toBe(0); // a refresh
    expect((await c.createPermission({ address: '127.0.0.3', port: 1 })).code).toBe(508);
    expect((await c.channelBind(0x4000, { address: '127.0.0.4', port: 1 })).code).toBe(508);
    expect((await c.channelBind(0x4000, { address: '127.0.0.2', port: 1 })).code).toBe(0);
  });

  it('refuses an IPv6 peer on an IPv4 relay with 443', async () => {
    const r = await relay({ allowedPeers: ['::/0'] });
    const c = await client(r);
    expect((await c.allocate()).code).toBe(0);
    expect((await c.createPermission({ address: '2001:db8::1', port: 9 })).code).toBe(443);
  });

  it('does not answer a request whose FINGERPRINT is wrong (RFC 8489 §7.3)', async () => {
    const r = await relay();
    const c = await client(r);
    const bad = new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build({
      fingerprint: true,
    });
    bad[bad.length - 1]! ^= 0xff;
    const answers: number[] = [];
    c.socket.on('message', () => answers.push(1));
    c.sendRaw(bad);
    // The relay answers in order: once the Binding after it is answered, the bad one never will be.
    expect(
      (await c.transact((id) => new StunWriter(Method.binding, StunClass.request, id).build()))?.cls,
    ).toBe(StunClass.success);
    expect(answers).toHaveLength(1);
  });

  it('refuses bad channel numbers and conflicting bindings with 400', async () => {
    const r = await relay();
    const c = await client(r);
    const p1 = await peer();
    const p2 = await peer();
    expect((await c.allocate()).code).toBe(0);
    expect((await c.channelBind(0x3fff, p1.addr)).code).toBe(400);
    // 0x4000-0x7FFF is valid (RFC 5766 §11, which coturn's clients still use); past it is not.
    expect((await c.channelBind(0x8000, p1.addr)).code).toBe(400);
    expect((await c.channelBind(0x4000, p1.addr)).code).toBe(0);
    expect((await c.channelBind(0x4000, p1.addr)).code).toBe(0); // refresh
    expect((await c.channelBind(0x4000, p2.addr)).code).toBe(400);
    expect((await c.channelBind(0x4001, p1.addr)).code).toBe(400);
    c.sendChannel(0x4abc, Buffer.from('unbound'));
    c.sendChannel(0x4000, Buffer.from('bound'));
    expect(await until(() => p1.got.length === 1)).toBe(true);
    expect(p1.got.map(String)).toEqual(['bound']);
  });

  it('caps an allocation at its bandwidth and drops the excess', async () => {
    const r = await relay({ bandwidthBps: 1000 });
    const c = await client(r);
    const p = await peer();
    expect((await c.allocate()).code).toBe(0);
    expect((await c.channelBind(0x4000, p.addr)).code).toBe(0);
    for (let i = 0; i < 10; i++) c.sendChannel(0x4000, Buffer.alloc(200, i));
    expect(await until(() => r.stats().counters.droppedBandwidth === 5)).toBe(true);
    // The 5 within the burst were sent before the drops were counted, but their datagrams may still be on
    // the way to the peer's socket (a loaded machine): wait for them, not for a count at one instant.
    expect(await until(() => p.got.length >= 5)).toBe(true);
    expect(p.got).toHaveLength(5); // the clock is frozen: one second's burst, no refill
  });

  it('answers a request with a valid header but bad attributes with 400, and keeps serving', async () => {
    const r = await relay();
    const c = await client(r);
    const bad = new StunWriter(Method.allocate, StunClass.request, randomTransactionId())
      .add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0]))
      .build();
    bad.writeUInt16BE(0x0400, 22); // REQUESTED-TRANSPORT claims 1 KiB
    const m = await c.transact(bad);
    expect(m && getAttr(m, Attr.errorCode)?.[2]).toBe(4);
    expect((await c.allocate()).code).toBe(0);
  });

  it('stops cleanly while a peer floods the relay port: nothing throws, every socket closes', async () => {
    const r = await relay();
    const c = await client(r);
    const p = await peer();
    expect((await c.allocate()).code).toBe(0);
    expect((await c.channelBind(0x4000, p.addr)).code).toBe(0);
    const relayed = c.relayed!;
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++) p.socket.send(Buffer.alloc(i % 4), relayed.port, relayed.address);
      c.sendChannel(0x4000, Buffer.from('x'));
    }, 1);
    await until(() => r.stats().counters.packetsToClient > 50);
    await r.close();
    await new Promise((res) => setTimeout(res, 50));
    clearInterval(flood);
    expect(r.stats()).toMatchObject({ allocations: 0, relaySockets: 0 });
    await r.close(); // idempotent
  });
});
