/**
 * Fuzz the relay's listening port over real loopback UDP: random bytes, truncated headers, bad lengths,
 * attribute soups, unknown attributes, attributes after MESSAGE-INTEGRITY, and mutations of real Allocate,
 * Refresh, CreatePermission, ChannelBind, Send and ChannelData datagrams captured from TurnClient (some
 * re-signed and re-fingerprinted so they reach the handlers behind the integrity check). They come from a
 * client that holds an allocation and from strangers. The relay must answer a Binding after every batch,
 * log no handler failure, and afterwards still grant an Allocate and relay both ways for the allocation
 * that was there before.
 *
 * Seeded: FUZZ_SEED=<n> replays a run; the seed is in the test name and printed on failure.
 *
 * Peers live on 127.0.0.66 and the relay may send only there (every other IPv4 address is denied), so
 * mutated Send indications and ChannelData can reach nothing but loopback.
 */
import { randomInt } from 'node:crypto';
import { pino } from 'pino';
import { describe, expect, it, onTestFailed, onTestFinished } from 'vitest';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { loadTurnConfig } from '../config.js';
import {
  Attr,
  appendFingerprint,
  MAGIC_COOKIE,
  Method,
  StunClass,
  StunWriter,
  encodeAddress,
  encodeType,
  getText,
  parseStun,
  randomTransactionId,
  type StunAttribute,
} from '../stun/message.js';
import { TurnClient, udpSocket, until } from '../../test-support/turn-client.js';
import { longTermKey } from './auth.js';
import { TurnServer } from './turn-server.js';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
const DATAGRAMS = 5000;
const BATCH = 25;
const REALM = 'fuzz.test';
const SECRET = 'fuzz-secret';
const PEER_IP = '127.0.0.66';
const CHANNEL = 0x4001;

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Every IPv4 CIDR but `ip`/32: 32 blocks, one per bit where an address first differs from it. */
function allIpv4But(ip: string): string[] {
  const n = ip.split('.').reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
  const out: string[] = [];
  for (let bits = 1; bits <= 32; bits++) {
    const flipped = (n ^ (1 << (32 - bits))) >>> 0;
    const masked = bits === 32 ? flipped : (flipped & ~((1 << (32 - bits)) - 1)) >>> 0;
    out.push(`${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${bits}`);
  }
  return out;
}

function credential(userId: string): { username: string; password: string } {
  const c = mintTurnCredential({ secret: SECRET, userId, ttlSeconds: 3600 });
  return { username: c.username, password: c.credential };
}

/** Record everything a client sends (its requests, indications and ChannelData) until stopped. */
function capture(turn: TurnClient, into: Buffer[]): () => void {
  const original = turn.sendRaw.bind(turn);
  let on = true;
  turn.sendRaw = (buf: Buffer) => {
    if (on) into.push(Buffer.from(buf));
    original(buf);
  };
  return () => (on = false);
}

/** A FINGERPRINT over the whole message; shorter than a STUN header (ChannelData) it stays as it is. */
function withFingerprint(buf: Buffer): Buffer {
  return buf.length < 20 ? buf : appendFingerprint(buf);
}

/** The message without a trailing FINGERPRINT, if it ends with one. */
function withoutFingerprint(buf: Buffer): Buffer {
  if (buf.length < 28 || buf.readUInt16BE(buf.length - 8) !== Attr.fingerprint) return Buffer.from(buf);
  const out = Buffer.from(buf.subarray(0, buf.length - 8));
  out.writeUInt16BE(out.length - 20, 2);
  return out;
}

function tlv(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

const KNOWN_TYPES = Object.values(Attr);

/** One sender's material: captured datagrams and what it needs to sign new requests. */
interface Sender {
  name: 'member' | 'stranger';
  send(buf: Buffer): void;
  captured: Buffer[];
  cred: { username: string; password: string };
  nonce: string;
}

function makeFuzzer(rng: Rng, peerPort: number) {
  const peer = () => ({ address: PEER_IP, port: rng.chance(0.7) ? peerPort : rng.int(65536) });

  const randomValue = (type: number): Buffer => {
    if (rng.chance(0.3)) return rng.bytes(rng.int(40));
    switch (type) {
      case Attr.lifetime: {
        const v = Buffer.alloc(4);
        v.writeUInt32BE(rng.pick([0, 1, 599, 600, 3600, 3601, 0xffffffff, rng.int(2 ** 32)]) >>> 0);
        return v;
      }
      case Attr.xorPeerAddress:
        return encodeAddress({ ...peer(), family: 'IPv4' }, true, Buffer.alloc(12));
      case Attr.channelNumber:
        return Buffer.from([0x40 + rng.int(0x40), rng.int(256), 0, 0]);
      case Attr.evenPort:
        return Buffer.from([rng.pick([0, 0x80, rng.int(256)])]);
      case Attr.requestedTransport:
        return Buffer.from([rng.pick([17, 6, rng.int(256)]), 0, 0, 0]);
      case Attr.requestedAddressFamily:
        return Buffer.from([rng.pick([1, 2, rng.int(256)]), 0, 0, 0]);
      default:
        return rng.bytes(rng.int(24));
    }
  };

  /** 1-3 attribute-level mutations: drop, duplicate, rewrite, truncate, extend, add known or unknown. */
  const mutateAttributes = (attrs: StunAttribute[]): StunAttribute[] => {
    const out = attrs.map((a) => ({ ...a }));
    for (let n = 1 + rng.int(3); n > 0; n--) {
      const i = rng.int(Math.max(out.length, 1));
      const a = out[i];
      switch (rng.int(7)) {
        case 0:
          out.splice(i, 1);
          break;
        case 1:
          if (a) out.splice(i, 0, { ...a });
          break;
        case 2:
          if (a) a.value = randomValue(a.type);
          break;
        case 3:
          if (a) a.value = a.value.subarray(0, rng.int(a.value.length + 1));
          break;
        case 4:
          if (a) a.value = Buffer.concat([a.value, rng.bytes(1 + rng.int(8))]);
          break;
        case 5: {
          const type = rng.pick(KNOWN_TYPES);
          if (type !== Attr.messageIntegrity && type !== Attr.fingerprint)
            out.splice(i, 0, { type, value: randomValue(type) });
          break;
        }
        default:
          out.splice(i, 0, { type: rng.int(0x10000), value: rng.bytes(rng.int(16)) });
      }
    }
    return out;
  };

  /** A captured request, mutated attribute by attribute and then signed again with the sender's key. */
  const resigned = (s: Sender): Buffer | null => {
    const requests = s.captured
      .map((b) => parseStun(b))
      .filter((p) => p.ok && p.message.cls === StunClass.request && p.message.integrityOffset >= 0);
    const parsed = requests.length ? rng.pick(requests) : null;
    if (!parsed?.ok) return null;
    const m = parsed.message;
    const method = rng.chance(0.1) ? rng.pick(Object.values(Method)) : m.method;
    // The member keeps its allocation: a Refresh it sends could legitimately delete it.
    if (s.name === 'member' && method === Method.refresh) return null;
    const body = m.attributes.filter(
      (a) => a.type !== Attr.username && a.type !== Attr.realm && a.type !== Attr.nonce,
    );
    const w = new StunWriter(method, StunClass.request, randomTransactionId());
    for (const a of mutateAttributes(body)) w.add(a.type, a.value);
    w.addText(Attr.username, s.cred.username).addText(Attr.realm, REALM);
    w.addText(Attr.nonce, rng.chance(0.05) ? 'stale-or-forged' : s.nonce);
    return w.build({
      integrityKey: longTermKey(s.cred.username, REALM, s.cred.password),
      fingerprint: rng.chance(0.8),
    });
  };

  const flipped = (buf: Buffer): Buffer => {
    const out = Buffer.from(buf);
    for (let n = 1 + rng.int(8); n > 0 && out.length > 0; n--) out[rng.int(out.length)] = rng.int(256);
    // Half the time the FINGERPRINT is made right again, so the integrity check is what has to refuse it.
    return rng.chance(0.5) ? withFingerprint(withoutFingerprint(out)) : out;
  };

  const soup = (): Buffer => {
    const header = Buffer.alloc(20);
    header.writeUInt16BE(
      rng.chance(0.7)
        ? encodeType(rng.pick(Object.values(Method)), rng.int(4) as StunClass)
        : rng.int(0x4000),
      0,
    );
    header.writeUInt32BE(MAGIC_COOKIE, 4);
    randomTransactionId().copy(header, 8);
    const attrs: Buffer[] = [];
    for (let n = rng.int(8); n > 0; n--) {
      const type = rng.chance(0.7) ? rng.pick(KNOWN_TYPES) : rng.int(0x10000);
      attrs.push(tlv(type, randomValue(type)));
    }
    const out = Buffer.concat([header, ...attrs]);
    out.writeUInt16BE(rng.chance(0.8) ? out.length - 20 : rng.int(0x10000), 2);
    return rng.chance(0.5) ? withFingerprint(out) : out;
  };

  const channelData = (): Buffer => {
    const payload = rng.bytes(rng.int(100));
    const out = Buffer.alloc(4 + payload.length + rng.int(4));
    out.writeUInt16BE(rng.chance(0.6) ? CHANNEL : 0x4000 + rng.int(0x4000), 0);
    const length = rng.pick([
      payload.length,
      payload.length,
      rng.int(0x10000),
      payload.length + 1 + rng.int(8),
    ]);
    out.writeUInt16BE(length, 2);
    payload.copy(out, 4);
    return out;
  };

  const sendIndication = (): Buffer => {
    const id = randomTransactionId();
    const w = new StunWriter(Method.send, StunClass.indication, id);
    if (rng.chance(0.9)) w.add(Attr.xorPeerAddress, randomValue(Attr.xorPeerAddress));
    if (rng.chance(0.9)) w.add(Attr.data, rng.bytes(rng.int(64)));
    if (rng.chance(0.2)) w.add(rng.int(0x10000), rng.bytes(rng.int(8)));
    return w.build({ fingerprint: rng.chance(0.5) });
  };

  /** One datagram: what kind is drawn from the seed, and so is every byte. */
  return (s: Sender): Buffer => {
    const captured = rng.pick(s.captured);
    switch (rng.int(11)) {
      case 0:
        return rng.bytes(rng.chance(0.8) ? rng.int(64) : rng.int(1500));
      case 1:
        return captured.subarray(0, rng.int(Math.min(captured.length, 24)));
      case 2:
        return captured.subarray(0, rng.int(captured.length));
      case 3: {
        const out = Buffer.from(captured);
        if (out.length >= 4)
          out.writeUInt16BE(rng.chance(0.5) ? rng.int(0x10000) : (out.length - 20 + 4) & 0xffff, 2);
        return out;
      }
      case 4:
        return flipped(captured);
      case 5:
        return soup();
      case 6:
      case 7:
        return resigned(s) ?? soup();
      case 8: {
        // An attribute after MESSAGE-INTEGRITY, FINGERPRINT made right: must be ignored (RFC 8489 §14.5).
        const base = withoutFingerprint(captured);
        const type = rng.chance(0.5) ? rng.pick(KNOWN_TYPES) : rng.int(0x10000);
        const out = Buffer.concat([base, tlv(type, randomValue(type))]);
        if (out.length >= 20) out.writeUInt16BE(out.length - 20, 2);
        return rng.chance(0.7) ? withFingerprint(out) : out;
      }
      case 9:
        return channelData();
      default:
        return sendIndication();
    }
  };
}

describe('relay fuzzing', () => {
  it(
    `survives ${DATAGRAMS} random and mutated datagrams (FUZZ_SEED=${SEED})`,
    { timeout: 120_000 },
    async () => {
      onTestFailed(() => {
        process.stderr.write(`\nfuzz failed: rerun with FUZZ_SEED=${SEED}\n`);
      });
      const logs: string[] = [];
      const relay = await TurnServer.start({
        ...loadTurnConfig({
          TURN_PORT: '0',
          TURN_TLS_PORT: 'off', // UDP datagrams only; TLS has its own tests
          TURN_ALLOWED_PEER_IPS: `${PEER_IP}/32`,
          TURN_DENIED_PEER_IPS: allIpv4But(PEER_IP).join(','),
        }),
        realm: REALM,
        secrets: [SECRET],
        logger: pino({ level: 'warn' }, { write: (line: string) => void logs.push(line) }),
      });
      const sockets: Array<{ close(): Promise<void> }> = [];
      onTestFinished(async () => {
        await Promise.all(sockets.map((s) => s.close()));
        await relay.close();
      });
      const connect = async (userId: string) => {
        const c = credential(userId);
        const turn = await TurnClient.connect(
          { host: '127.0.0.1', port: relay.address.port },
          c.username,
          c.password,
        );
        sockets.push(turn);
        return { turn, c };
      };
      const peerSocket = await udpSocket(PEER_IP);
      sockets.push({ close: () => new Promise<void>((r) => peerSocket.close(() => r())) });
      const peerGot: string[] = [];
      peerSocket.on('message', (m: Buffer) => peerGot.push(m.toString('utf8')));
      const peer = { address: PEER_IP, port: peerSocket.address().port };

      // Capture real traffic: the member's whole life so far, and strangers' allocations, reservations and
      // deletions.
      const member = await connect('member');
      const memberCaptured: Buffer[] = [];
      const stopMember = capture(member.turn, memberCaptured);
      expect((await member.turn.allocate()).code).toBe(0);
      expect((await member.turn.refresh(600)).code).toBe(0);
      expect((await member.turn.createPermission(peer)).code).toBe(0);
      expect((await member.turn.channelBind(CHANNEL, peer)).code).toBe(0);
      member.turn.send(peer, Buffer.from('send'));
      member.turn.sendChannel(CHANNEL, Buffer.from('channel'));
      expect(await until(() => peerGot.includes('send') && peerGot.includes('channel'))).toBe(true);
      stopMember();

      const strangerCaptured: Buffer[] = [];
      const strangers = await Promise.all([1, 2, 3].map((i) => connect(`stranger-${i}`)));
      for (const s of strangers) capture(s.turn, strangerCaptured);
      const [s1, s2, s3] = strangers;
      const reserved = await s1!.turn.allocate((w) => w.add(Attr.evenPort, Buffer.from([0x80])));
      expect(reserved.code).toBe(0);
      const token = reserved.message.attributes.find((a) => a.type === Attr.reservationToken)?.value;
      expect(token).toBeDefined();
      expect((await s2!.turn.allocate((w) => w.add(Attr.reservationToken, token!))).code).toBe(0);
      expect((await s2!.turn.createPermission(peer)).code).toBe(0);
      expect((await s1!.turn.refresh(0)).code).toBe(0);
      expect((await s2!.turn.refresh(0)).code).toBe(0);
      expect((await s3!.turn.allocate((w) => w.add(0x0033, Buffer.from('?')))).code).toBe(420);

      const nonceOf = (captured: Buffer[]) => {
        for (const b of captured.toReversed()) {
          const p = parseStun(b);
          const nonce = p.ok ? getText(p.message, Attr.nonce) : undefined;
          if (nonce) return nonce;
        }
        throw new Error('no signed request captured');
      };
      const senders: Sender[] = [
        {
          name: 'member',
          send: (b) => member.turn.sendRaw(b),
          captured: memberCaptured,
          cred: member.c,
          nonce: nonceOf(memberCaptured),
        },
        ...strangers.map((s): Sender => ({
          name: 'stranger',
          send: (b) => s.turn.sendRaw(b),
          captured: strangerCaptured,
          cred: s.c,
          nonce: nonceOf(strangerCaptured.filter((b) => b.includes(s.c.username))),
        })),
      ];

      const rng = new Rng(SEED);
      const next = makeFuzzer(rng, peer.port);
      const pinger = await connect('pinger');
      const binding = () => new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build();
      for (let sent = 0; sent < DATAGRAMS; sent += BATCH) {
        for (let i = 0; i < BATCH; i++) {
          const s = rng.chance(0.5) ? senders[0]! : rng.pick(senders.slice(1));
          s.send(next(s));
        }
        // Liveness after every batch; datagrams are answered in order, so this also paces the fuzzing.
        expect(
          await pinger.turn.transact(binding()),
          `relay answers after ${sent + BATCH} datagrams`,
        ).not.toBeNull();
      }

      expect(logs, 'no handler failed').toEqual([]);
      expect(relay.stats().counters.malformed).toBeGreaterThan(0);

      // A newcomer still gets an allocation.
      const fresh = await connect('newcomer');
      expect((await fresh.turn.allocate()).code).toBe(0);

      // The member's allocation still works, both ways, on its channel and with Send indications.
      expect((await member.turn.refresh(600)).code).toBe(0);
      expect((await member.turn.createPermission(peer)).code).toBe(0);
      member.turn.sendChannel(CHANNEL, Buffer.from('after-channel'));
      member.turn.send(peer, Buffer.from('after-send'));
      expect(await until(() => peerGot.includes('after-channel') && peerGot.includes('after-send'))).toBe(
        true,
      );
      const before = member.turn.received.length;
      await new Promise<void>((resolve, reject) =>
        peerSocket.send(Buffer.from('after-peer'), member.turn.relayed!.port, '127.0.0.1', (err) =>
          err ? reject(err) : resolve(),
        ),
      );
      expect(
        await until(() =>
          member.turn.received
            .slice(before)
            .some((r) => r.data.toString('utf8') === 'after-peer' && r.channel === CHANNEL),
        ),
      ).toBe(true);
    },
  );
});
