/**
 * One regression test per defect of node-turn 0.0.6, the relay we replaced, each run both ways: against the
 * package as shipped (in a child process: it throws out of socket handlers) the defect must reproduce, which
 * shows the test would fail on the unfixed package; against our relay it must not. Everything is on
 * loopback; node-turn gets a fresh child per test, because several probes crash it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { describe, expect, it, onTestFinished } from 'vitest';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { loadTurnConfig } from '../config.js';
import {
  Attr,
  appendAttribute,
  appendFingerprint,
  Method,
  StunClass,
  StunWriter,
  encodeAddress,
  getAttr,
  getText,
  parseStun,
  randomTransactionId,
  type StunMessage,
} from '../stun/message.js';
import { within } from '../../test-support/relayed-call.js';
import { TurnClient, errorCode, udpSocket, until } from '../../test-support/turn-client.js';
import {
  startChildRelay,
  type ChildRelay,
  type ChildRelayOptions,
} from '../../test-support/node-turn-shipped.js';
import { longTermKey } from './auth.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const REALM = 'defects.test';
const SECRET = 'defects-secret';
/** node-turn's user table: normal users, as its README adds them. */
const USERS = { alice: 'alice-password', bob: 'bob-password' };
type User = keyof typeof USERS;

interface Cred {
  username: string;
  password: string;
}
/** A relay under test, reached on 127.0.0.1 (ours listens on every local address, as it ships). */
interface Address {
  port: number;
}

// --- subjects ------------------------------------------------------------------------------------------------

async function nodeTurn(extra: Partial<ChildRelayOptions> = {}): Promise<ChildRelay> {
  const relay = await startChildRelay({ impl: 'node-turn', realm: REALM, users: USERS, ...extra });
  onTestFinished(() => relay.kill());
  return relay;
}

async function ourChild(extra: Partial<ChildRelayOptions> = {}): Promise<ChildRelay> {
  const relay = await startChildRelay({ impl: 'ours', realm: REALM, secret: SECRET, ...extra });
  onTestFinished(() => relay.kill());
  return relay;
}

async function ours(extra: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const relay = await TurnServer.start({
    ...loadTurnConfig({ TURN_PORT: '0', TURN_TLS_PORT: '0', TURN_ALLOWED_PEER_IPS: '127.0.0.0/8' }),
    realm: REALM,
    secrets: [SECRET],
    ...extra,
  });
  onTestFinished(() => relay.close());
  return relay;
}

/** node-turn's static user, or for ours a REST credential minted for the same user id. */
function cred(impl: 'node-turn' | 'ours', user: User): Cred {
  if (impl === 'node-turn') return { username: user, password: USERS[user] };
  const c = mintTurnCredential({ secret: SECRET, userId: user, ttlSeconds: 3600 });
  return { username: c.username, password: c.credential };
}

async function client(server: Address, c: Cred): Promise<TurnClient> {
  const turn = await TurnClient.connect({ host: '127.0.0.1', port: server.port }, c.username, c.password);
  onTestFinished(() => turn.close());
  return turn;
}

interface Peer {
  socket: Socket;
  host: string;
  port: number;
  got: Array<{ data: Buffer }>;
  sendTo(to: { address: string; port: number }, data: Buffer): Promise<void>;
}

async function peer(host = '127.0.0.1'): Promise<Peer> {
  const socket = await udpSocket(host);
  onTestFinished(() => new Promise<void>((r) => socket.close(() => r())));
  const got: Array<{ data: Buffer }> = [];
  socket.on('message', (data: Buffer) => got.push({ data }));
  return {
    socket,
    host,
    port: socket.address().port,
    got,
    sendTo: (to, data) =>
      new Promise((resolve, reject) =>
        socket.send(data, to.port, to.address, (err) => (err ? reject(err) : resolve())),
      ),
  };
}

/** An allocated client with a permission for `p`. */
async function allocated(server: Address, c: Cred, p?: Peer): Promise<TurnClient> {
  const turn = await client(server, c);
  expect((await turn.allocate()).code).toBe(0);
  if (p) expect((await turn.createPermission({ address: p.host, port: p.port })).code).toBe(0);
  return turn;
}

const texts = (list: Array<{ data: Buffer }>) => list.map((r) => r.data.toString('utf8'));
const has = (list: Array<{ data: Buffer }>, text: string) => texts(list).includes(text);

// --- raw messages --------------------------------------------------------------------------------------------

/**
 * A request signed with the long-term key (RFC 8489 §9.2), built by hand so a probe can pick the nonce and
 * put an attribute after MESSAGE-INTEGRITY.
 */
function signed(
  method: number,
  c: Cred,
  nonce: string,
  extra: (w: StunWriter) => void,
  after?: { type: number; value: Buffer },
): Buffer {
  const w = new StunWriter(method, StunClass.request, randomTransactionId());
  extra(w);
  w.addText(Attr.username, c.username).addText(Attr.realm, REALM).addText(Attr.nonce, nonce);
  let out = w.build({ integrityKey: longTermKey(c.username, REALM, c.password) });
  if (after) out = appendAttribute(out, after.type, after.value);
  return appendFingerprint(out);
}

const unsigned = (method: number, extra: (w: StunWriter) => void = () => undefined): Buffer => {
  const w = new StunWriter(method, StunClass.request, randomTransactionId());
  extra(w);
  return w.build({ fingerprint: true });
};
const udpTransport = (w: StunWriter) => w.add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0]));

/** A fresh nonce: the 401 an unsigned request gets carries one (RFC 8489 §9.2.4). */
async function nonceFor(turn: TurnClient, method: number): Promise<string> {
  const m = await turn.transact(unsigned(method, method === Method.allocate ? udpTransport : undefined));
  const nonce = m && getText(m, Attr.nonce);
  if (!nonce) throw new Error('no nonce in the answer');
  return nonce;
}

/**
 * Whether the relay answers `raw`, sent once: a Binding request follows it, and relays answer in order, so
 * once the Binding is answered an answer to `raw` would already be here. No timed negative.
 */
async function answers(turn: TurnClient, raw: Buffer): Promise<StunMessage | null> {
  const id = raw.subarray(8, 20);
  let answer: StunMessage | null = null;
  const listen = (buf: Buffer) => {
    const parsed = parseStun(buf);
    if (parsed.ok && parsed.message.transactionId.equals(id)) answer = parsed.message;
  };
  turn.socket.on('message', listen);
  turn.sendRaw(raw);
  const binding = await turn.transact(unsigned(Method.binding));
  turn.socket.off('message', listen);
  expect(binding, 'the relay answers a Binding request').not.toBeNull();
  return answer;
}

function lifetimeOf(m: StunMessage): number | undefined {
  return getAttr(m, Attr.lifetime)?.readUInt32BE(0);
}

/** A socket bound exclusively to 127.0.0.1:port, or null while something else holds the port. */
function bindPort(port: number): Promise<Socket | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(null);
    });
    s.bind({ address: '127.0.0.1', port, exclusive: true }, () => {
      onTestFinished(() => new Promise<void>((r) => s.close(() => r())));
      resolve(s);
    });
  });
}

/** 0 for a success response, the error code for an error response, null for no answer. */
function codeOf(m: StunMessage | null): number | null {
  if (!m) return null;
  return m.cls === StunClass.success ? 0 : errorCode(m);
}

/** `n` unsigned Allocates, 50 in flight at a time; returns how many were answered 401. */
async function unauthenticatedAllocates(turn: TurnClient, n: number): Promise<number> {
  let refused = 0;
  for (let sent = 0; sent < n; sent += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - sent) }, () =>
        turn.transact(unsigned(Method.allocate, udpTransport)),
      ),
    );
    refused += batch.filter((m) => codeOf(m) === 401).length;
  }
  return refused;
}

const at = (p: Peer) => ({ address: p.host, port: p.port });

// --- the defects ---------------------------------------------------------------------------------------------

describe('1. authentication through Object.prototype', () => {
  // node-turn keeps passwords and nonces in plain objects: these user names find Object.prototype members,
  // and the string a member turns into is the password it hashes into the key.
  const table: Record<string, unknown> = {};
  const PROTO_USERS: Cred[] = ['__proto__', 'constructor', 'toString'].map((username) => ({
    username,
    password: String(table[username]),
  }));

  it('node-turn 0.0.6 allocates for __proto__, constructor and toString with computable passwords', async () => {
    const relay = await nodeTurn();
    for (const c of PROTO_USERS) {
      const turn = await client(relay.address, c);
      expect((await turn.allocate()).code, c.username).toBe(0);
      expect(turn.relayed, c.username).toBeDefined();
    }
  });

  it('node-turn 0.0.6 accepts the nonce "__proto__", which it never issued', async () => {
    const relay = await nodeTurn();
    const alice = cred('node-turn', 'alice');
    const turn = await client(relay.address, alice);
    const m = await turn.transact(signed(Method.allocate, alice, '__proto__', udpTransport));
    expect(codeOf(m)).toBe(0);
    expect((await relay.probe()).allocations).toBe(1);
  });

  it('ours refuses those users (401) and that nonce (438)', async () => {
    const relay = await ours();
    for (const c of PROTO_USERS)
      expect((await (await client(relay.address, c)).allocate()).code, c.username).toBe(401);
    const alice = cred('ours', 'alice');
    const turn = await client(relay.address, alice);
    expect(codeOf(await turn.transact(signed(Method.allocate, alice, '__proto__', udpTransport)))).toBe(438);
    expect(relay.stats().allocations).toBe(0);
  });
});

describe('2. a 0-3 byte datagram from a permitted peer', () => {
  it.each([0, 1, 2, 3])('crashes node-turn 0.0.6 (%i bytes)', async (size) => {
    const relay = await nodeTurn();
    const p = await peer();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'), p);
    // It parses every peer datagram as ChannelData and reads 16-bit fields past the end: the channel
    // number of a 0-1 byte datagram, the length of a 2-3 byte one that starts like a channel number ('aa').
    await p.sendTo(turn.relayed!, Buffer.alloc(size, 0x61));
    const exit = await within(relay.exited, 15_000, 'node-turn to exit');
    expect(exit).toEqual({ code: 1, signal: null }); // an uncaught exception
    expect(['ERR_BUFFER_OUT_OF_BOUNDS', 'ERR_OUT_OF_RANGE']).toContain(relay.uncaught());
  });

  it('is relayed by ours, in Data indications and on a channel', async () => {
    const relay = await ours();
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'), p);
    for (const size of [0, 1, 2, 3]) await p.sendTo(turn.relayed!, Buffer.alloc(size, 0x61));
    expect(await until(() => turn.received.length === 4)).toBe(true);
    expect((await turn.channelBind(0x4001, at(p))).code).toBe(0);
    for (const size of [0, 1, 2, 3]) await p.sendTo(turn.relayed!, Buffer.alloc(size, 0x61));
    expect(await until(() => turn.received.length === 8)).toBe(true);
    expect(turn.received.map((r) => [r.data.length, r.channel])).toEqual([
      ...[0, 1, 2, 3].map((n) => [n, undefined]),
      ...[0, 1, 2, 3].map((n) => [n, 0x4001]),
    ]);
    expect((await turn.refresh()).code).toBe(0);
  });
});

describe('3. Refresh with LIFETIME 600', () => {
  it('deletes the allocation on node-turn 0.0.6 (NaN lifetime from config fields it never sets)', async () => {
    const relay = await nodeTurn();
    const p = await peer();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'));
    await turn.refresh(600);
    // Its expiry timer gets NaN ms, which Node runs after 1 ms.
    expect(await until(async () => (await turn.createPermission(at(p))).code === 437, 5000, 50)).toBe(true);
    expect((await relay.probe()).allocations).toBe(0);
  });

  it('extends the allocation on ours by 600 s from the refresh (injected clock)', async () => {
    let now = Date.now();
    const relay = await ours({ now: () => now });
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'));
    now += 500_000;
    const r = await turn.refresh(600);
    expect(r.code).toBe(0);
    expect(lifetimeOf(r.message)).toBe(600);
    now += 500_000; // past the Allocate's 600 s, inside the Refresh's
    relay.sweep();
    expect((await turn.createPermission(at(p))).code).toBe(0);
    expect(relay.stats().allocations).toBe(1);
  });
});

describe('4. stopping while a peer is sending', () => {
  it('node-turn 0.0.6 throws ERR_SOCKET_DGRAM_NOT_RUNNING out of a socket handler and dies', async () => {
    const relay = await nodeTurn();
    const p = await peer();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'), p);
    await p.sendTo(turn.relayed!, Buffer.from('before'));
    expect(await until(() => has(turn.received, 'before'))).toBe(true);
    const traffic = setInterval(
      () => void p.sendTo(turn.relayed!, Buffer.from('during')).catch(() => undefined),
      5,
    );
    onTestFinished(() => clearInterval(traffic));
    const stopped = relay.stop().catch(() => null); // it may die before it can report
    const exit = await within(relay.exited, 15_000, 'node-turn to exit');
    await stopped;
    expect(relay.uncaught()).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
    expect(exit).toEqual({ code: 1, signal: null }); // an uncaught exception
  });

  it('node-turn 0.0.6 leaves its timers and relay sockets open after stop(), so the process lives on', async () => {
    const relay = await nodeTurn();
    await allocated(relay.address, cred('node-turn', 'alice'));
    const report = await relay.stop();
    expect(report.error).toBeNull();
    expect(report.resources).toContain('Timeout'); // the allocation's 600 s timer, each nonce's 1 h timer
    expect(report.resources).toContain('UDPWrap'); // the relay socket
    expect(relay.child.exitCode).toBeNull();
  });

  it('ours closes under traffic without throwing and leaves nothing open: the process exits by itself', async () => {
    const relay = await ourChild();
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'), p);
    expect((await turn.channelBind(0x4001, at(p))).code).toBe(0);
    await p.sendTo(turn.relayed!, Buffer.from('before'));
    expect(await until(() => has(turn.received, 'before'))).toBe(true);
    const traffic = setInterval(() => {
      void p.sendTo(turn.relayed!, Buffer.from('during')).catch(() => undefined);
      turn.sendChannel(0x4001, Buffer.from('during'));
      turn.send(at(p), Buffer.from('during'));
    }, 5);
    onTestFinished(() => clearInterval(traffic));
    const report = await relay.stop();
    expect(report.error).toBeNull();
    expect(report.resources.filter((r) => r === 'Timeout' || r === 'UDPWrap')).toEqual([]);
    expect(await within(relay.exited, 15_000, 'our relay process to exit by itself')).toEqual({
      code: 0,
      signal: null,
    });
    expect(relay.uncaught()).toBeUndefined();
  });
});

describe('5. resources: relay ports, quotas, per-request state', () => {
  it('node-turn 0.0.6 keeps the relay port of a deleted allocation bound', async () => {
    const relay = await nodeTurn();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'));
    expect((await turn.refresh(0)).code).toBe(0);
    const probe = await relay.probe();
    expect(probe.allocations).toBe(0);
    expect(probe.udpSockets).toBe(2); // the listener and the orphaned relay socket
    expect(await bindPort(turn.relayed!.port)).toBeNull();
  });

  it('ours frees the relay port when the allocation is deleted', async () => {
    const relay = await ours();
    const base = relay.stats().relaySockets;
    const turn = await allocated(relay.address, cred('ours', 'alice'));
    expect(relay.stats().relaySockets).toBe(base + 1);
    expect(await bindPort(turn.relayed!.port)).toBeNull();
    expect((await turn.refresh(0)).code).toBe(0);
    expect(relay.stats().relaySockets).toBe(base);
    expect(await until(async () => (await bindPort(turn.relayed!.port)) !== null, 5000, 50)).toBe(true);
  });

  const QUOTA_USERS: User[] = ['alice', 'alice', 'alice', 'bob', 'bob'];
  const allocateAll = async (server: Address, impl: 'node-turn' | 'ours') => {
    const codes: number[] = [];
    for (const user of QUOTA_USERS)
      codes.push((await (await client(server, cred(impl, user))).allocate()).code);
    return codes;
  };

  it('node-turn 0.0.6 has no quotas: every allocation is granted', async () => {
    const relay = await nodeTurn();
    expect(await allocateAll(relay.address, 'node-turn')).toEqual([0, 0, 0, 0, 0]);
  });

  it('ours answers 486 past the user quota and 508 past the total', async () => {
    const relay = await ours({ userQuota: 2, totalQuota: 3 });
    expect(await allocateAll(relay.address, 'ours')).toEqual([0, 0, 486, 0, 508]);
  });

  it('node-turn 0.0.6 stores a nonce and a one-hour timer for every unauthenticated request', async () => {
    const relay = await nodeTurn();
    const turn = await client(relay.address, cred('node-turn', 'alice'));
    const before = await relay.probe();
    expect(await unauthenticatedAllocates(turn, 200)).toBe(200);
    const after = await relay.probe();
    // At least: a retransmitted request would get one more.
    expect(after.nonces! - before.nonces!).toBeGreaterThanOrEqual(200);
    expect(after.timers - before.timers).toBeGreaterThanOrEqual(200);
  });

  it('ours keeps no nonce state: one issued before thousands of requests still signs an Allocate', async () => {
    const relay = await ourChild();
    const alice = cred('ours', 'alice');
    const turn = await client(relay.address, alice);
    const nonce = await nonceFor(turn, Method.allocate);
    const before = await relay.probe();
    expect(await unauthenticatedAllocates(turn, 3000)).toBe(3000);
    const after = await relay.probe();
    expect(after).toEqual(before);
    expect(codeOf(await turn.transact(signed(Method.allocate, alice, nonce, udpTransport)))).toBe(0);
  });
});

describe('6. MESSAGE-INTEGRITY on ChannelBind success', () => {
  it('is missing on node-turn 0.0.6 (its CreatePermission success has it)', async () => {
    const relay = await nodeTurn();
    const p = await peer();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'));
    const permission = await turn.createPermission(at(p));
    expect([permission.code, permission.integrity]).toEqual([0, true]);
    const bound = await turn.channelBind(0x4001, at(p));
    expect([bound.code, bound.integrity, bound.message.integrityOffset]).toEqual([0, false, -1]);
  });

  it('is present and valid on ours', async () => {
    const relay = await ours();
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'));
    const bound = await turn.channelBind(0x4001, at(p));
    expect([bound.code, bound.integrity]).toEqual([0, true]);
  });
});

describe('7. lifetimes', () => {
  it('node-turn 0.0.6 ignores a requested LIFETIME (it reads "liftetime")', async () => {
    const relay = await nodeTurn({ maxLifetimeSec: 3600 });
    const turn = await client(relay.address, cred('node-turn', 'alice'));
    const r = await turn.allocate((w) => w.addUint32(Attr.lifetime, 1200));
    expect(r.code).toBe(0);
    expect(lifetimeOf(r.message)).toBe(600);
  });

  it('ours grants a requested LIFETIME within the maximum', async () => {
    const relay = await ours({ maxLifetimeSec: 3600 });
    const turn = await client(relay.address, cred('ours', 'alice'));
    const r = await turn.allocate((w) => w.addUint32(Attr.lifetime, 1200));
    expect([r.code, lifetimeOf(r.message)]).toEqual([0, 1200]);
  });

  it('node-turn 0.0.6 keeps relaying for an expired allocation', async () => {
    const relay = await nodeTurn({ defaultLifetimeSec: 2 });
    const p = await peer();
    const turn = await allocated(relay.address, cred('node-turn', 'alice'), p);
    // Its expiry is a real timer: wait (bounded) until it says the allocation is gone.
    expect(await until(async () => (await turn.createPermission(at(p))).code === 437, 10_000, 50)).toBe(true);
    await p.sendTo(turn.relayed!, Buffer.from('after-expiry'));
    expect(await until(() => has(turn.received, 'after-expiry'))).toBe(true);
  });

  it('ours stops relaying at expiry and frees the port (injected clock, sweep)', async () => {
    let now = Date.now();
    const relay = await ours({ now: () => now });
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'), p);
    const relayed = turn.relayed!;
    await p.sendTo(relayed, Buffer.from('before-expiry'));
    expect(await until(() => has(turn.received, 'before-expiry'))).toBe(true);
    now += 601_000;
    relay.sweep();
    expect(relay.stats()).toMatchObject({ allocations: 0, relaySockets: 0 });
    expect((await turn.createPermission(at(p))).code).toBe(437);
    // The port is free: what the peer sends now reaches whoever binds it, and never the client.
    let taker: Socket | null = null;
    expect(await until(async () => (taker = await bindPort(relayed.port)) !== null, 5000, 50)).toBe(true);
    const taken: Buffer[] = [];
    taker!.on('message', (m: Buffer) => taken.push(m));
    await p.sendTo(relayed, Buffer.from('after-expiry'));
    expect(await until(() => taken.length === 1)).toBe(true);
    expect(has(turn.received, 'after-expiry')).toBe(false);
  });
});

describe('7. lifetimes, between expiry and the sweep', () => {
  it('ours neither relays for nor refreshes an allocation past its lifetime, even before the sweep', async () => {
    let now = Date.now();
    const relay = await ours({ now: () => now, sweepIntervalMs: 3_600_000 }); // no sweep unless called
    const p = await peer();
    const turn = await allocated(relay.address, cred('ours', 'alice'), p);
    // The client keeps its permission fresh (300 s each) but lets the allocation (600 s) run out.
    now += 400_000;
    expect((await turn.createPermission(at(p))).code).toBe(0);
    now += 250_000;
    const counters = relay.stats().counters;
    const relayed = counters.packetsToClient;
    const dropped = counters.droppedNoPermission;
    await p.sendTo(turn.relayed!, Buffer.from('late'));
    expect(
      await until(() => counters.packetsToClient + counters.droppedNoPermission > relayed + dropped),
    ).toBe(true);
    expect(counters.packetsToClient).toBe(relayed);
    // RFC 8656 §7.3: the allocation no longer exists, so a Refresh gets 437 and cannot bring it back.
    expect((await turn.refresh(600)).code).toBe(437);
    expect(relay.stats()).toMatchObject({ allocations: 0, relaySockets: 0 });
    expect(has(turn.received, 'late')).toBe(false);
  });
});

describe('8. attributes and ChannelData', () => {
  const EXTRA: Array<[string, number, Buffer]> = [
    ['EVEN-PORT', Attr.evenPort, Buffer.from([0])],
    ['an unknown comprehension-optional attribute', 0x8055, Buffer.from('x')],
    ['an unknown comprehension-required attribute', 0x0033, Buffer.from('x')],
  ];

  it('node-turn 0.0.6 drops a request carrying EVEN-PORT or any attribute it does not know', async () => {
    const relay = await nodeTurn();
    const turn = await client(relay.address, cred('node-turn', 'alice'));
    expect(codeOf(await answers(turn, unsigned(Method.allocate, udpTransport)))).toBe(401);
    for (const [name, type, value] of EXTRA) {
      const raw = unsigned(Method.allocate, (w) => udpTransport(w).add(type, value));
      expect(await answers(turn, raw), name).toBeNull();
    }
  });

  it('ours allocates with EVEN-PORT or an unknown optional attribute, and answers 420 to an unknown required one', async () => {
    const relay = await ours();
    const codes: number[] = [];
    for (const [, type, value] of EXTRA) {
      const turn = await client(relay.address, cred('ours', 'alice'));
      const r = await turn.allocate((w) => w.add(type, value));
      codes.push(r.code);
      if (type === Attr.evenPort) expect(turn.relayed!.port % 2).toBe(0);
      if (r.code === 420) expect(getAttr(r.message, Attr.unknownAttributes)?.readUInt16BE(0)).toBe(type);
    }
    expect(codes).toEqual([0, 0, 420]);
  });

  /** Bind a channel, send ChannelData and then a Send indication; resolves once the Send's data arrived. */
  async function channelDataProbe(server: Address, c: Cred): Promise<Peer> {
    const p = await peer();
    const turn = await allocated(server, c);
    expect((await turn.channelBind(0x4001, at(p))).code).toBe(0);
    turn.sendChannel(0x4001, Buffer.from('via-channel'));
    turn.send(at(p), Buffer.from('via-send'));
    expect(await until(() => has(p.got, 'via-send'))).toBe(true);
    return p;
  }

  it('node-turn 0.0.6 drops ChannelData from the client', async () => {
    const relay = await nodeTurn();
    const p = await channelDataProbe(relay.address, cred('node-turn', 'alice'));
    expect(texts(p.got)).toEqual(['via-send']);
  });

  it('ours relays ChannelData from the client', async () => {
    const relay = await ours();
    const p = await channelDataProbe(relay.address, cred('ours', 'alice'));
    expect(texts(p.got)).toEqual(['via-channel', 'via-send']);
  });

  /**
   * A CreatePermission for peer A, properly signed; someone on the path appends XOR-PEER-ADDRESS of peer B
   * after MESSAGE-INTEGRITY, which the signature does not cover. Then B and A send to the relayed address.
   */
  async function appendedPeerProbe(server: Address, c: Cred): Promise<TurnClient> {
    const a = await peer('127.0.0.1');
    const b = await peer('127.0.0.2');
    const turn = await allocated(server, c);
    const nonce = await nonceFor(turn, Method.createPermission);
    const forged = signed(
      Method.createPermission,
      c,
      nonce,
      (w) => w.addAddress(Attr.xorPeerAddress, { ...at(a), family: 'IPv4' }),
      {
        type: Attr.xorPeerAddress,
        value: encodeAddress({ ...at(b), family: 'IPv4' }, true, Buffer.alloc(12)),
      },
    );
    expect(codeOf(await turn.transact(forged))).toBe(0);
    await b.sendTo(turn.relayed!, Buffer.from('from-b'));
    await a.sendTo(turn.relayed!, Buffer.from('from-a'));
    expect(await until(() => has(turn.received, 'from-a'))).toBe(true);
    return turn;
  }

  it('node-turn 0.0.6 obeys an attribute placed after MESSAGE-INTEGRITY', async () => {
    const relay = await nodeTurn();
    const turn = await appendedPeerProbe(relay.address, cred('node-turn', 'alice'));
    expect(await until(() => has(turn.received, 'from-b'))).toBe(true);
  });

  it('ours ignores it (RFC 8489 §14.5)', async () => {
    const relay = await ours();
    const turn = await appendedPeerProbe(relay.address, cred('ours', 'alice'));
    expect(has(turn.received, 'from-b')).toBe(false);
    expect(relay.stats().counters.droppedNoPermission).toBe(1);
  });
});
