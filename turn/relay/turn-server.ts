/**
 * The bundled STUN/TURN relay over UDP (RFC 8489, RFC 8656): Binding, Allocate, Refresh, CreatePermission,
 * ChannelBind, Send/Data indications and ChannelData, with TURN REST API credentials, stateless nonces, a
 * peer-address policy, quotas and lifetimes. Nothing read from the network can throw out of a handler.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeAddress,
  decodeType,
  getAllAttrs,
  getAttr,
  getText,
  isChannelData,
  MAX_CHANNEL,
  MIN_CHANNEL,
  parseStun,
  type StunMessage,
  type TransportAddress,
} from '../stun/message.js';
import { PeerPolicy } from '../peer-policy.js';
import { Allocation } from './allocation.js';
import { NonceIssuer, authenticate } from './auth.js';
import { newCounters, type RelayCounters } from './relay-metrics.js';
import type { Relay, RelayStats } from './relay.js';

export interface TurnServerOptions {
  /** Interface to listen and relay on. Default 0.0.0.0. */
  host: string;
  /** STUN/TURN UDP port; 0 picks a free one. */
  port: number;
  realm: string;
  /** TURN REST API secrets: any of them verifies. */
  secrets: readonly string[];
  /** Address put in XOR-RELAYED-ADDRESS; default: `host`, or this machine's first IPv4 when 0.0.0.0. */
  externalIp?: string | undefined;
  /** Relay port range, inclusive. */
  minPort: number;
  maxPort: number;
  /** CIDRs the peer policy allows over its default deny list, and extra CIDRs it denies. */
  allowedPeers: readonly string[];
  deniedPeers: readonly string[];
  /** Allocations per user id (486 past it) and in total (508 past it). */
  userQuota: number;
  totalQuota: number;
  /** Longest allocation lifetime a client may ask for, seconds. */
  maxLifetimeSec: number;
  /** Lifetime when the client asks for less or none, seconds (RFC 8656 §3.2: 600). */
  defaultLifetimeSec?: number;
  /** Permission lifetime, seconds (RFC 8656 §9: 300). */
  permissionLifetimeSec?: number;
  /** Channel binding lifetime, seconds (RFC 8656 §12: 600). */
  channelLifetimeSec?: number;
  /** Nonce lifetime, seconds (default 600, as coturn's stale-nonce). */
  nonceLifetimeSec?: number;
  /** Per-allocation relay bandwidth cap, bytes per second; default none. */
  bandwidthBps?: number | undefined;
  logger?: Logger | undefined;
  /** Clock in milliseconds; injectable for expiry tests. */
  now?: () => number;
  /** How often expired allocations, permissions and channels are swept, ms (default 1000). */
  sweepIntervalMs?: number;
}

const SOFTWARE = 'relay-platform';
const UDP = 17;
/** Attributes this relay understands in a request; other comprehension-required ones get 420. */
const UNDERSTOOD = new Set<number>([
  Attr.username,
  Attr.realm,
  Attr.nonce,
  Attr.lifetime,
  Attr.requestedTransport,
  Attr.requestedAddressFamily,
  Attr.evenPort,
  Attr.reservationToken,
  Attr.xorPeerAddress,
  Attr.data,
  Attr.channelNumber,
  Attr.priority,
  Attr.useCandidate,
]);
const RESERVATION_MS = 30_000;

type ReplyFn = (cls: StunClass, build: (w: StunWriter) => void, key?: Buffer) => void;

interface Reservation {
  socket: Socket;
  port: number;
  expiresAt: number;
}

/** Bind a UDP socket; null when the port is taken. Lookups are synchronous: we only send to IP literals. */
function bindUdp(host: string, port: number, family: 'udp4' | 'udp6'): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = createSocket({
      type: family,
      lookup: (address, _opts, cb) => cb(null, address, family === 'udp4' ? 4 : 6),
    });
    const onError = () => {
      socket.close();
      resolve(null);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

function defaultRelayIp(host: string): string {
  if (host !== '0.0.0.0') return host;
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}

export class TurnServer implements Relay {
  readonly counters: RelayCounters = newCounters();
  private readonly allocations = new Map<string, Map<number, Allocation>>();
  private readonly pending = new Set<string>();
  private readonly perUser = new Map<string, number>();
  private readonly reservations = new Map<string, Reservation>();
  private count = 0;
  private readonly policy: PeerPolicy;
  private readonly nonces: NonceIssuer;
  private readonly now: () => number;
  private readonly relayIp: string;
  private readonly family: 'udp4' | 'udp6';
  private sweeper: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;
  private listener!: Socket;
  address = { host: '', port: 0 };

  private constructor(private readonly o: TurnServerOptions) {
    this.now = o.now ?? Date.now;
    this.policy = new PeerPolicy({ allowed: o.allowedPeers, denied: o.deniedPeers });
    this.nonces = new NonceIssuer(o.nonceLifetimeSec ?? 600, this.now);
    this.relayIp = defaultRelayIp(o.host);
    this.family = o.host.includes(':') ? 'udp6' : 'udp4';
  }

  static async start(options: TurnServerOptions): Promise<TurnServer> {
    const server = new TurnServer(options);
    const listener = await bindUdp(options.host, options.port, server.family);
    if (!listener) throw new Error(`TURN port ${options.host}:${options.port} is not available`);
    server.listener = listener;
    server.address = { host: options.host, port: listener.address().port };
    listener.on('message', (msg, rinfo) => server.onDatagram(msg, rinfo.address, rinfo.port));
    listener.on('error', (err) => options.logger?.warn({ err }, 'relay listener error'));
    server.sweeper = setInterval(() => server.sweep(), options.sweepIntervalMs ?? 1000);
    server.sweeper.unref();
    return server;
  }

  private get log(): Logger | undefined {
    return this.o.logger;
  }

  stats(): RelayStats {
    let sockets = this.reservations.size;
    for (const byPort of this.allocations.values()) sockets += byPort.size;
    return { allocations: this.count, relaySockets: sockets, counters: this.counters };
  }

  /**
   * The allocation on this 5-tuple. One past its lifetime is gone even before the sweep reaches it: a
   * Refresh must get 437 rather than bring it back (RFC 8656 §7.3), and nothing more is relayed for it.
   */
  private find(address: string, port: number): Allocation | undefined {
    const allocation = this.allocations.get(address)?.get(port);
    if (allocation && allocation.expiresAt <= this.now()) {
      void this.remove(allocation);
      return undefined;
    }
    return allocation;
  }

  /** Every datagram on the listening port. ChannelData first: it is the hot path. */
  private onDatagram(buf: Buffer, address: string, port: number): void {
    try {
      if (isChannelData(buf)) return this.onChannelData(buf, address, port);
      const parsed = parseStun(buf);
      if (!parsed.ok) {
        this.counters.malformed++;
        // A request whose header parsed still gets an answer (RFC 8489 §6.3.1), without integrity.
        if (parsed.header && (buf[0]! & 0x01) === 0 && (buf[1]! & 0x10) === 0) {
          const transactionId = Buffer.from(buf.subarray(8, 20));
          const { method } = decodeType(buf.readUInt16BE(0));
          const out = new StunWriter(method, StunClass.error, transactionId).addError(400, 'Bad Request');
          this.sendToClient(out.build({ fingerprint: true }), address, port);
        }
        return;
      }
      this.onStun(parsed.message, address, port);
    } catch (err) {
      this.counters.malformed++;
      this.log?.warn({ err }, 'datagram handler failed');
    }
  }

  private onChannelData(buf: Buffer, address: string, port: number): void {
    const allocation = this.find(address, port);
    const number = buf.readUInt16BE(0);
    const length = buf.readUInt16BE(2);
    if (!allocation || number > MAX_CHANNEL || 4 + length > buf.length) {
      this.counters.malformed++;
      return;
    }
    const binding = allocation.channelFor(number);
    if (!binding || binding.expiresAt <= this.now()) {
      this.counters.droppedNoPermission++;
      return;
    }
    allocation.toPeer(buf, 4, length, binding.address, binding.port, true);
  }

  private onStun(m: StunMessage, address: string, port: number): void {
    const reply: ReplyFn = (cls, build, key) => {
      const w = new StunWriter(m.method, cls, m.transactionId);
      build(w);
      w.addText(Attr.software, SOFTWARE);
      this.sendToClient(w.build({ integrityKey: key, fingerprint: true }), address, port);
    };
    if (m.cls === StunClass.indication) {
      if (m.method === Method.send) this.onSend(m, address, port);
      return;
    }
    if (m.cls !== StunClass.request) return;
    switch (m.method) {
      case Method.binding:
        return reply(StunClass.success, (w) =>
          w.addAddress(Attr.xorMappedAddress, this.transport(address, port)),
        );
      case Method.allocate:
        this.onAllocate(m, address, port, reply).catch((err: unknown) => {
          this.counters.malformed++;
          this.log?.warn({ err }, 'allocate failed');
        });
        return;
      case Method.refresh:
      case Method.createPermission:
      case Method.channelBind:
        return this.onAllocationRequest(m, address, port, reply);
      default:
        return reply(StunClass.error, (w) => w.addError(400, 'Bad Request'));
    }
  }

  private transport(address: string, port: number): TransportAddress {
    return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
  }

  /**
   * Authenticate; on failure answer as RFC 8489 §9.2.4 says (401 and 438 carry REALM and a fresh NONCE)
   * and return null. Also answers 420 for unknown comprehension-required attributes (§6.3.1).
   */
  private auth(m: StunMessage, address: string, reply: ReplyFn, checkExpiry: boolean) {
    const result = authenticate(
      m,
      { username: getText(m, Attr.username), realm: getText(m, Attr.realm), nonce: getText(m, Attr.nonce) },
      {
        realm: this.o.realm,
        secrets: this.o.secrets,
        nonces: this.nonces,
        clientAddress: address,
        checkExpiry,
        now: this.now(),
      },
    );
    if (!result.ok) {
      reply(StunClass.error, (w) => {
        w.addError(result.code, result.reason);
        if (result.code !== 400)
          w.addText(Attr.realm, this.o.realm).addText(Attr.nonce, this.nonces.issue(address));
      });
      return null;
    }
    const unknown = m.attributes.filter((a) => a.type < 0x8000 && !UNDERSTOOD.has(a.type)).map((a) => a.type);
    if (unknown.length > 0) {
      reply(
        StunClass.error,
        (w) => {
          w.addError(420, 'Unknown Attribute');
          const v = Buffer.alloc(unknown.length * 2);
          unknown.forEach((t, i) => v.writeUInt16BE(t, i * 2));
          w.add(Attr.unknownAttributes, v);
        },
        result.key,
      );
      return null;
    }
    return result;
  }

  /** RFC 8656 §7.2 (Allocate) and §7.3 (Refresh): the lifetime granted for a requested one. */
  private lifetimeSec(m: StunMessage): number {
    const requested = getAttr(m, Attr.lifetime);
    const fallback = this.o.defaultLifetimeSec ?? 600;
    if (!requested || requested.length !== 4) return Math.min(fallback, this.o.maxLifetimeSec);
    const asked = requested.readUInt32BE(0);
    if (asked === 0) return 0;
    return Math.min(Math.max(asked, fallback), this.o.maxLifetimeSec);
  }

  private async onAllocate(m: StunMessage, address: string, port: number, reply: ReplyFn): Promise<void> {
    const existing = this.find(address, port);
    if (existing) {
      // A retransmitted Allocate gets the same answer; any other is a mismatch (RFC 8656 §7.2).
      if (existing.allocateTransactionId.equals(m.transactionId))
        this.sendToClient(existing.allocateResponse, address, port);
      else reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'));
      return;
    }
    const key5 = `${address}|${port}`;
    if (this.pending.has(key5)) return; // still binding a port for the first copy of this request
    const auth = this.auth(m, address, reply, true);
    if (!auth) return this.countAllocate('401');
    const fail = (code: number, reason: string) => {
      this.countAllocate(String(code));
      reply(StunClass.error, (w) => w.addError(code, reason), auth.key);
    };
    const transport = getAttr(m, Attr.requestedTransport);
    if (!transport || transport.length !== 4) return fail(400, 'Bad Request');
    if (transport[0] !== UDP) return fail(442, 'Unsupported Transport Protocol');
    const family = getAttr(m, Attr.requestedAddressFamily);
    const wantV6 = family !== undefined && family[0] === 0x02;
    if (family !== undefined && (family.length !== 4 || (family[0] !== 0x01 && family[0] !== 0x02)))
      return fail(400, 'Bad Request');
    if (wantV6 !== (this.family === 'udp6')) return fail(440, 'Address Family not Supported');
    const evenPort = getAttr(m, Attr.evenPort);
    const token = getAttr(m, Attr.reservationToken);
    if (evenPort && token) return fail(400, 'Bad Request');
    if ((this.perUser.get(auth.userId) ?? 0) >= this.o.userQuota)
      return fail(486, 'Allocation Quota Reached');
    if (this.count + this.pending.size >= this.o.totalQuota) return fail(508, 'Insufficient Capacity');

    this.pending.add(key5);
    let socket: Socket | null = null;
    let reservationToken: Buffer | undefined;
    try {
      if (token) {
        const r = this.reservations.get(token.toString('hex'));
        if (!r || r.expiresAt <= this.now()) return fail(508, 'Insufficient Capacity');
        this.reservations.delete(token.toString('hex'));
        socket = r.socket;
      } else {
        const wantReservation = evenPort !== undefined && evenPort.length >= 1 && (evenPort[0]! & 0x80) !== 0;
        const bound = await this.bindRelayPort(evenPort !== undefined, wantReservation);
        if (!bound) return fail(508, 'Insufficient Capacity');
        socket = bound.socket;
        reservationToken = bound.reservationToken;
      }
      if (this.closing) {
        socket.close();
        return;
      }
      const lifetime = this.lifetimeSec(m) || this.o.defaultLifetimeSec || 600;
      const relayed: TransportAddress = {
        address: this.o.externalIp ?? this.relayIp,
        port: socket.address().port,
        family: this.family === 'udp6' ? 'IPv6' : 'IPv4',
      };
      const w = new StunWriter(Method.allocate, StunClass.success, m.transactionId)
        .addAddress(Attr.xorRelayedAddress, relayed)
        .addUint32(Attr.lifetime, lifetime)
        .addAddress(Attr.xorMappedAddress, this.transport(address, port));
      if (reservationToken) w.add(Attr.reservationToken, reservationToken);
      const response = w
        .addText(Attr.software, SOFTWARE)
        .build({ integrityKey: auth.key, fingerprint: true });
      const allocation = new Allocation(
        { address, port },
        socket,
        relayed,
        auth.username,
        auth.userId,
        auth.key,
        this.now() + lifetime * 1000,
        Buffer.from(m.transactionId),
        response,
        {
          listener: this.listener,
          counters: this.counters,
          now: this.now,
          bandwidthBps: this.o.bandwidthBps,
        },
      );
      socket.on('error', (err) => this.log?.debug({ err }, 'relay socket error'));
      let byPort = this.allocations.get(address);
      if (!byPort) this.allocations.set(address, (byPort = new Map<number, Allocation>()));
      byPort.set(port, allocation);
      this.count++;
      this.perUser.set(auth.userId, (this.perUser.get(auth.userId) ?? 0) + 1);
      socket = null; // owned by the allocation now
      this.countAllocate('success');
      this.log?.debug({ user: auth.userId, relayPort: relayed.port, lifetime }, 'allocation created');
      this.sendToClient(response, address, port);
    } finally {
      this.pending.delete(key5);
      socket?.close();
    }
  }

  private countAllocate(result: string): void {
    this.counters.allocate.set(result, (this.counters.allocate.get(result) ?? 0) + 1);
  }

  /**
   * A free relay port in the range: random start, then linear. With `even`, an even port; with
   * `reserve`, the next port is bound too and kept for RESERVATION_MS under a token (RFC 8656 §14.6).
   */
  private async bindRelayPort(
    even: boolean,
    reserve: boolean,
  ): Promise<{ socket: Socket; reservationToken?: Buffer } | null> {
    const { minPort, maxPort } = this.o;
    const span = maxPort - minPort + 1;
    const start = Math.floor(Math.random() * span);
    const attempts = Math.min(span, 64);
    for (let i = 0; i < attempts; i++) {
      let candidate = minPort + ((start + i) % span);
      if (even && candidate % 2 === 1) candidate++;
      if (candidate > maxPort || (reserve && candidate + 1 > maxPort)) continue;
      const socket = await bindUdp(this.o.host, candidate, this.family);
      if (!socket) continue;
      if (!reserve) return { socket };
      const next = await bindUdp(this.o.host, candidate + 1, this.family);
      if (!next) {
        socket.close();
        continue;
      }
      const token = randomBytes(8);
      this.reservations.set(token.toString('hex'), {
        socket: next,
        port: candidate + 1,
        expiresAt: this.now() + RESERVATION_MS,
      });
      return { socket, reservationToken: token };
    }
    return null;
  }

  /** Refresh, CreatePermission and ChannelBind: requests on an existing allocation. */
  private onAllocationRequest(m: StunMessage, address: string, port: number, reply: ReplyFn): void {
    const allocation = this.find(address, port);
    if (!allocation) return reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'));
    const auth = this.auth(m, address, reply, false);
    if (!auth) return;
    // RFC 8656 §5: later requests must use the credentials the allocation was made with.
    if (auth.username !== allocation.username)
      return reply(StunClass.error, (w) => w.addError(441, 'Wrong Credentials'), auth.key);
    const ok = (build: (w: StunWriter) => void = () => undefined) =>
      reply(StunClass.success, build, auth.key);
    const fail = (code: number, reason: string) =>
      reply(StunClass.error, (w) => w.addError(code, reason), auth.key);

    if (m.method === Method.refresh) {
      const lifetime = this.lifetimeSec(m);
      this.counters.refreshes++;
      if (lifetime === 0) {
        void this.remove(allocation);
        return ok((w) => w.addUint32(Attr.lifetime, 0));
      }
      allocation.expiresAt = this.now() + lifetime * 1000;
      return ok((w) => w.addUint32(Attr.lifetime, lifetime));
    }

    const peers: TransportAddress[] = [];
    for (const value of getAllAttrs(m, Attr.xorPeerAddress)) {
      const peer = decodeAddress(value, true, m.transactionId);
      if (!peer) return fail(400, 'Bad Request');
      peers.push(peer);
    }
    if (peers.length === 0) return fail(400, 'Bad Request');
    if (peers.some((p) => p.family !== allocation.relayed.family))
      return fail(443, 'Peer Address Family Mismatch');
    if (peers.some((p) => !this.policy.permits(p.address))) {
      this.counters.permissionDenied++;
      this.log?.info(
        { user: allocation.userId, peers: peers.map((p) => p.address) },
        'peer denied by policy',
      );
      return fail(403, 'Forbidden');
    }
    const permissionMs = (this.o.permissionLifetimeSec ?? 300) * 1000;

    if (m.method === Method.createPermission) {
      for (const p of peers) allocation.permit(p.address, permissionMs);
      return ok();
    }

    // ChannelBind (RFC 8656 §11.2)
    const channel = getAttr(m, Attr.channelNumber);
    const peer = peers[0]!;
    if (!channel || channel.length !== 4 || peers.length !== 1) return fail(400, 'Bad Request');
    const number = channel.readUInt16BE(0);
    if (number < MIN_CHANNEL || number > MAX_CHANNEL) return fail(400, 'Bad Request');
    const byNumber = allocation.channelFor(number);
    const byPeer = allocation.channelOfPeer(peer.address, peer.port);
    if (
      (byNumber && (byNumber.address !== peer.address || byNumber.port !== peer.port)) ||
      (byPeer && byPeer.number !== number)
    )
      return fail(400, 'Bad Request');
    allocation.bind(number, peer.address, peer.port, (this.o.channelLifetimeSec ?? 600) * 1000);
    allocation.permit(peer.address, permissionMs);
    return ok();
  }

  private onSend(m: StunMessage, address: string, port: number): void {
    const allocation = this.find(address, port);
    const peerAttr = getAttr(m, Attr.xorPeerAddress);
    const data = getAttr(m, Attr.data);
    if (!allocation || !peerAttr || !data) return;
    const peer = decodeAddress(peerAttr, true, m.transactionId);
    if (!peer) return;
    allocation.toPeer(data, 0, data.length, peer.address, peer.port, false);
  }

  private sendToClient(buf: Buffer, address: string, port: number): void {
    if (this.closing) return;
    try {
      this.listener.send(buf, 0, buf.length, port, address);
    } catch (err) {
      this.log?.debug({ err }, 'send to client failed');
    }
  }

  private remove(allocation: Allocation): Promise<void> {
    const byPort = this.allocations.get(allocation.client.address);
    if (byPort?.get(allocation.client.port) !== allocation) return Promise.resolve();
    byPort.delete(allocation.client.port);
    if (byPort.size === 0) this.allocations.delete(allocation.client.address);
    this.count--;
    const left = (this.perUser.get(allocation.userId) ?? 1) - 1;
    if (left > 0) this.perUser.set(allocation.userId, left);
    else this.perUser.delete(allocation.userId);
    this.log?.debug({ user: allocation.userId, relayPort: allocation.relayed.port }, 'allocation deleted');
    return allocation.close();
  }

  /** Delete expired allocations (closing their sockets), permissions, channels and reservations. */
  sweep(): void {
    const now = this.now();
    for (const byPort of [...this.allocations.values()])
      for (const a of [...byPort.values()]) {
        if (a.expiresAt <= now) void this.remove(a);
        else a.sweep(now);
      }
    for (const [token, r] of this.reservations)
      if (r.expiresAt <= now) {
        this.reservations.delete(token);
        r.socket.close();
      }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      this.listener.removeAllListeners('message');
      const all: Promise<void>[] = [];
      for (const byPort of [...this.allocations.values()])
        for (const a of [...byPort.values()]) all.push(this.remove(a));
      for (const r of this.reservations.values()) all.push(new Promise((res) => r.socket.close(() => res())));
      this.reservations.clear();
      all.push(new Promise((res) => this.listener.close(() => res())));
      await Promise.all(all);
    })();
    return this.closing;
  }
}
