/**
 * The bundled STUN/TURN relay over UDP (RFC 8489, RFC 8656): Binding, Allocate, Refresh, CreatePermission,
 * ChannelBind, Send/Data indications and ChannelData, with TURN REST API credentials, stateless nonces, a
 * peer-address policy, quotas and lifetimes. Nothing read from the network can throw out of a handler.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
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
import { RelayPorts, bindUdp } from './relay-ports.js';
import { TURN_SERVER_DEFAULTS, type Limits, type TurnServerOptions } from './options.js';

export { TURN_SERVER_DEFAULTS, type TurnServerOptions };
import type { Relay, RelayStats } from './relay.js';

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

type ReplyFn = (cls: StunClass, build: (w: StunWriter) => void, key?: Buffer) => void;

function defaultRelayIp(host: string): string {
  if (host !== '0.0.0.0') return host;
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}

export class TurnServer implements Relay {
  readonly counters: RelayCounters = newCounters();
  private readonly allocations = new Map<string, Map<number, Allocation>>();
  /** Allocates still binding a port, by 5-tuple, with their user: they count against the quotas. */
  private readonly pending = new Map<string, string>();
  private readonly perUser = new Map<string, number>();
  private readonly inflight = new Set<Promise<void>>();
  private count = 0;
  private readonly limits: Limits;
  private readonly ports: RelayPorts;
  private readonly policy: PeerPolicy;
  private readonly nonces: NonceIssuer;
  private readonly now: () => number;
  private readonly relayIp: string;
  private sweeper: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;
  private listener!: Socket;
  address = { host: '', port: 0 };

  private constructor(private readonly o: TurnServerOptions) {
    this.now = o.now ?? Date.now;
    const limits: Limits = { ...TURN_SERVER_DEFAULTS };
    for (const k of Object.keys(limits) as Array<keyof Limits>) limits[k] = o[k] ?? limits[k];
    this.limits = limits;
    this.ports = new RelayPorts({ ...o, ...limits, now: this.now });
    this.policy = new PeerPolicy({ allowed: o.allowedPeers, denied: o.deniedPeers });
    // Nonces keyed from the signing secret: relays sharing it (and this one after a restart) accept each
    // other's nonces, so a client never sees a needless 438.
    const secret = o.secrets[0];
    const nonceKey = secret
      ? createHmac('sha256', secret).update('turn nonce key').digest()
      : randomBytes(32);
    this.nonces = new NonceIssuer(limits.nonceLifetimeSec, this.now, nonceKey);
    this.relayIp = defaultRelayIp(o.host);
  }

  static async start(options: TurnServerOptions): Promise<TurnServer> {
    const server = new TurnServer(options);
    const listener = await bindUdp(options.host, options.port);
    if (!listener) throw new Error(`TURN port ${options.host}:${options.port} is not available`);
    server.listener = listener;
    server.address = { host: options.host, port: listener.address().port };
    listener.on('message', (msg, rinfo) => server.onDatagram(msg, rinfo.address, rinfo.port));
    listener.on('error', (err) => options.logger?.warn({ err }, 'relay listener error'));
    server.sweeper = setInterval(() => server.sweep(), server.limits.sweepIntervalMs);
    server.sweeper.unref();
    return server;
  }

  private get log(): Logger | undefined {
    return this.o.logger;
  }

  stats(): RelayStats {
    let sockets = this.ports.reserved;
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
        return this.onAllocate(m, address, port, reply);
      case Method.refresh:
      case Method.createPermission:
      case Method.channelBind:
        return this.onAllocationRequest(m, address, port, reply);
      default:
        return reply(StunClass.error, (w) => w.addError(400, 'Bad Request'));
    }
  }

  private transport(address: string, port: number): TransportAddress {
    return { address, port, family: 'IPv4' };
  }

  /**
   * Authenticate; on failure answer as RFC 8489 §9.2.4 says (401 and 438 carry REALM and a fresh NONCE)
   * and return the error code. Also answers 420 for unknown comprehension-required attributes (§6.3.1).
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
      return result.code;
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
      return 420;
    }
    return result;
  }

  /**
   * RFC 8656 §7.2 (Allocate) and §7.3 (Refresh): the lifetime granted for a requested one, within
   * [default, max]. Zero deletes on a Refresh; on an Allocate it means nothing and gets the default.
   */
  private lifetimeSec(m: StunMessage, allocate: boolean): number {
    const requested = getAttr(m, Attr.lifetime);
    const asked = requested?.length === 4 ? requested.readUInt32BE(0) : undefined;
    if (asked === 0 && !allocate) return 0;
    const { defaultLifetimeSec } = this.limits;
    return Math.min(Math.max(asked ?? defaultLifetimeSec, defaultLifetimeSec), this.o.maxLifetimeSec);
  }

  /**
   * Allocations, reserved ports and Allocates still binding, of one user or of everyone. Binding is
   * synchronous with our lookup today, so nothing interleaves; counting pending ones keeps the quotas true
   * should a bind ever wait.
   */
  private load(userId?: string): number {
    if (userId === undefined) return this.count + this.pending.size + this.ports.reserved;
    let pending = 0;
    for (const u of this.pending.values()) if (u === userId) pending++;
    return (this.perUser.get(userId) ?? 0) + pending + this.ports.reservedBy(userId);
  }

  private onAllocate(m: StunMessage, address: string, port: number, reply: ReplyFn): void {
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
    if (typeof auth === 'number') return this.countAllocate(String(auth));
    const fail = (code: number, reason: string) => {
      this.countAllocate(String(code));
      reply(StunClass.error, (w) => w.addError(code, reason), auth.key);
    };
    const transport = getAttr(m, Attr.requestedTransport);
    if (!transport || transport.length !== 4) return fail(400, 'Bad Request');
    if (transport[0] !== UDP) return fail(442, 'Unsupported Transport Protocol');
    const family = getAttr(m, Attr.requestedAddressFamily);
    if (family !== undefined && (family.length !== 4 || (family[0] !== 0x01 && family[0] !== 0x02)))
      return fail(400, 'Bad Request');
    if (family?.[0] === 0x02) return fail(440, 'Address Family not Supported');
    const evenPort = getAttr(m, Attr.evenPort);
    const token = getAttr(m, Attr.reservationToken);
    if (evenPort && token) return fail(400, 'Bad Request');
    let reserved: Socket | null = null;
    if (token) {
      // A reserved port already counts against the quotas of the user who reserved it.
      reserved = this.ports.claim(token);
      if (!reserved) return fail(508, 'Insufficient Capacity');
    } else {
      if (this.load(auth.userId) >= this.o.userQuota) return fail(486, 'Allocation Quota Reached');
      if (this.load() >= this.o.totalQuota) return fail(508, 'Insufficient Capacity');
    }

    this.pending.set(key5, auth.userId);
    const done = this.createAllocation(m, address, port, auth, evenPort, reserved, fail)
      .catch((err: unknown) => {
        this.counters.malformed++;
        this.log?.warn({ err }, 'allocate failed');
      })
      .finally(() => {
        this.pending.delete(key5);
        this.inflight.delete(done);
      });
    this.inflight.add(done);
  }

  private async createAllocation(
    m: StunMessage,
    address: string,
    port: number,
    auth: { username: string; userId: string; key: Buffer },
    evenPort: Buffer | undefined,
    reserved: Socket | null,
    fail: (code: number, reason: string) => void,
  ): Promise<void> {
    let socket: Socket | null = reserved;
    let reservationToken: Buffer | undefined;
    try {
      if (!socket) {
        const reserve = evenPort !== undefined && evenPort.length >= 1 && (evenPort[0]! & 0x80) !== 0;
        const taken = await this.ports.take(evenPort !== undefined, reserve, auth.userId);
        if (!taken) return this.closing ? undefined : fail(508, 'Insufficient Capacity');
        socket = taken.socket;
        reservationToken = taken.token;
      }
      if (this.closing) return;
      const lifetime = this.lifetimeSec(m, true);
      const relayed: TransportAddress = {
        address: this.o.externalIp ?? this.relayIp,
        port: socket.address().port,
        family: 'IPv4',
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
      socket?.close();
    }
  }

  private countAllocate(result: string): void {
    this.counters.allocate.set(result, (this.counters.allocate.get(result) ?? 0) + 1);
  }

  /** Refresh, CreatePermission and ChannelBind: requests on an existing allocation. */
  private onAllocationRequest(m: StunMessage, address: string, port: number, reply: ReplyFn): void {
    // RFC 8656 §7.3, §9.2, §11.2: authenticate first, then look for the allocation.
    const auth = this.auth(m, address, reply, false);
    if (typeof auth === 'number') return;
    const allocation = this.find(address, port);
    if (!allocation) return reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'), auth.key);
    // RFC 8656 §5: later requests must use the credentials the allocation was made with.
    if (auth.username !== allocation.username)
      return reply(StunClass.error, (w) => w.addError(441, 'Wrong Credentials'), auth.key);
    const ok = (build: (w: StunWriter) => void = () => undefined) =>
      reply(StunClass.success, build, auth.key);
    const fail = (code: number, reason: string) =>
      reply(StunClass.error, (w) => w.addError(code, reason), auth.key);

    if (m.method === Method.refresh) {
      const lifetime = this.lifetimeSec(m, false);
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
    const permissionMs = this.limits.permissionLifetimeSec * 1000;
    const fresh = new Set(peers.map((p) => p.address).filter((ip) => !allocation.permissions.has(ip)));
    if (allocation.permissions.size + fresh.size > this.limits.maxPermissions)
      return fail(508, 'Insufficient Capacity');

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
    allocation.bind(number, peer.address, peer.port, this.limits.channelLifetimeSec * 1000);
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
    this.ports.sweep(now);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      this.listener.removeAllListeners('message');
      // Allocates still binding a port see `closing` and give their socket back; wait for them first.
      await Promise.allSettled([...this.inflight]);
      const all: Promise<void>[] = [this.ports.close()];
      for (const byPort of [...this.allocations.values()])
        for (const a of [...byPort.values()]) all.push(this.remove(a));
      all.push(new Promise((res) => this.listener.close(() => res())));
      await Promise.all(all);
    })();
    return this.closing;
  }
}
