/**
 * The bundled STUN/TURN relay, clients over UDP or TCP, relaying UDP (RFC 8489, RFC 8656): Binding,
 * Allocate, Refresh, CreatePermission,
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
  parseStun,
  type StunMessage,
  type TransportAddress,
} from '../stun/message.js';
import {
  CHANNEL_HEADER_LENGTH,
  MAX_CHANNEL,
  MIN_CHANNEL,
  decodeChannelData,
  isChannelData,
} from '../stun/channel-data.js';
import { PeerPolicy } from '../peer-policy.js';
import { Allocation, type ClientLink } from './allocation.js';
import { StreamListener as TcpListener } from './stream-listener.js';
import { NonceIssuer, authorize, type ReplyFn } from './auth.js';
import { newCounters, type RelayCounters } from './relay-metrics.js';
import { RelayPorts, bindUdp } from './relay-ports.js';
import { TURN_SERVER_DEFAULTS, type Limits, type TurnServerOptions } from './options.js';

export { TURN_SERVER_DEFAULTS, type TurnServerOptions };
import type { Relay, RelayStats } from './relay.js';

const SOFTWARE = 'relay-platform';
const UDP = 17;

function defaultRelayIp(host: string): string {
  if (host !== '0.0.0.0') return host;
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  return '127.0.0.1';
}

export class TurnServer implements Relay {
  readonly counters: RelayCounters = newCounters();
  /** UDP clients' allocations by address and port (no string built per packet); TCP ones by link key. */
  private readonly allocations = new Map<string, Map<number, Allocation>>();
  private readonly streamAllocations = new Map<string, Allocation>();
  private tcp: TcpListener | undefined;
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

  private listenTcp(port: number): Promise<TcpListener | null> {
    return TcpListener.start({
      host: this.o.host,
      port,
      maxConnections: this.limits.maxTcpConnections,
      idleMs: this.limits.tcpIdleMs,
      sendBufferBytes: this.limits.tcpSendBufferBytes,
      counters: this.counters,
      logger: this.o.logger,
      onFrame: (frame, link) => this.onFrame(frame, link),
      allocated: (link) => this.streamAllocations.has(link.key),
      onClose: (link) => {
        const allocation = this.streamAllocations.get(link.key);
        if (allocation) void this.remove(allocation);
      },
    });
  }

  static async start(options: TurnServerOptions): Promise<TurnServer> {
    const server = new TurnServer(options);
    // The TCP listener takes the UDP port's number; with port 0 that number may be taken for TCP, so a
    // few fresh ports are tried.
    for (let attempt = 0; ; attempt++) {
      const listener = await bindUdp(options.host, options.port);
      if (!listener) throw new Error(`TURN port ${options.host}:${options.port} is not available`);
      const port = listener.address().port;
      const tcp = options.tcp === false ? undefined : await server.listenTcp(port);
      if (tcp === null) {
        listener.close();
        if (options.port === 0 && attempt < 5) continue;
        throw new Error(`TURN TCP port ${options.host}:${port} is not available`);
      }
      server.listener = listener;
      server.tcp = tcp;
      server.address = { host: options.host, port };
      break;
    }
    server.listener.on('message', (msg, rinfo) => server.onDatagram(msg, rinfo.address, rinfo.port));
    server.listener.on('error', (err) => options.logger?.warn({ err }, 'relay listener error'));
    server.sweeper = setInterval(() => server.sweep(), server.limits.sweepIntervalMs);
    server.sweeper.unref();
    return server;
  }

  private get log(): Logger | undefined {
    return this.o.logger;
  }

  stats(): RelayStats {
    let sockets = this.ports.reserved + this.streamAllocations.size;
    for (const byPort of this.allocations.values()) sockets += byPort.size;
    return {
      allocations: this.count,
      relaySockets: sockets,
      tcpConnections: this.tcp?.size ?? 0,
      counters: this.counters,
    };
  }

  /**
   * The allocation of this client. One past its lifetime is gone even before the sweep reaches it: a
   * Refresh must get 437 rather than bring it back (RFC 8656 §7.3), and nothing more is relayed for it.
   */
  private find(link: ClientLink): Allocation | undefined {
    return this.live(
      link.stream ? this.streamAllocations.get(link.key) : this.allocations.get(link.address)?.get(link.port),
    );
  }

  private live(allocation: Allocation | undefined): Allocation | undefined {
    if (allocation && allocation.expiresAt <= this.now()) {
      void this.remove(allocation);
      return undefined;
    }
    return allocation;
  }

  private udpLink(address: string, port: number): ClientLink {
    const listener = this.listener;
    const log = this.log;
    return {
      address,
      port,
      key: `${address}|${port}`,
      stream: false,
      send(buf) {
        try {
          listener.send(buf, 0, buf.length, port, address);
        } catch (err) {
          log?.debug({ err }, 'send to client failed');
        }
      },
    };
  }

  /** Every datagram on the listening port. ChannelData first: it is the hot path, and builds nothing. */
  private onDatagram(buf: Buffer, address: string, port: number): void {
    try {
      if (isChannelData(buf))
        return this.onChannelData(buf, this.live(this.allocations.get(address)?.get(port)));
      this.onStunBytes(buf, this.udpLink(address, port));
    } catch (err) {
      this.counters.malformed++;
      this.log?.warn({ err }, 'datagram handler failed');
    }
  }

  /** Every frame from a TCP client. */
  private onFrame(buf: Buffer, link: ClientLink): void {
    try {
      if (isChannelData(buf)) return this.onChannelData(buf, this.find(link));
      this.onStunBytes(buf, link);
    } catch (err) {
      this.counters.malformed++;
      this.log?.warn({ err }, 'frame handler failed');
    }
  }

  private onStunBytes(buf: Buffer, link: ClientLink): void {
    const parsed = parseStun(buf);
    if (parsed.ok) return this.onStun(parsed.message, link);
    this.counters.malformed++;
    // A request whose header parsed still gets an answer (RFC 8489 §6.3.1), without integrity.
    if (parsed.header && (buf[0]! & 0x01) === 0 && (buf[1]! & 0x10) === 0) {
      const transactionId = Buffer.from(buf.subarray(8, 20));
      const { method } = decodeType(buf.readUInt16BE(0));
      const out = new StunWriter(method, StunClass.error, transactionId).addError(400, 'Bad Request');
      if (!this.closing) link.send(out.build({ fingerprint: true }));
    }
  }

  private onChannelData(buf: Buffer, allocation: Allocation | undefined): void {
    const frame = decodeChannelData(buf);
    if (!allocation || !frame || frame.channel > MAX_CHANNEL) {
      this.counters.malformed++;
      return;
    }
    const binding = allocation.channelFor(frame.channel);
    if (!binding || binding.expiresAt <= this.now()) {
      this.counters.droppedNoPermission++;
      return;
    }
    allocation.toPeer(buf, CHANNEL_HEADER_LENGTH, frame.length, binding.address, binding.port, true);
  }

  private onStun(m: StunMessage, link: ClientLink): void {
    const reply: ReplyFn = (cls, build, key) => {
      const w = new StunWriter(m.method, cls, m.transactionId);
      build(w);
      w.addText(Attr.software, SOFTWARE);
      if (!this.closing) link.send(w.build({ integrityKey: key, fingerprint: true }));
    };
    if (m.cls === StunClass.indication) {
      if (m.method === Method.send) this.onSend(m, link);
      return;
    }
    if (m.cls !== StunClass.request) return;
    switch (m.method) {
      case Method.binding:
        return reply(StunClass.success, (w) =>
          w.addAddress(Attr.xorMappedAddress, this.transport(link.address, link.port)),
        );
      case Method.allocate:
        return this.onAllocate(m, link, reply);
      case Method.refresh:
      case Method.createPermission:
      case Method.channelBind:
        return this.onAllocationRequest(m, link, reply);
      default:
        return reply(StunClass.error, (w) => w.addError(400, 'Bad Request'));
    }
  }

  private transport(address: string, port: number): TransportAddress {
    return { address, port, family: 'IPv4' };
  }

  private auth(m: StunMessage, address: string, reply: ReplyFn, checkExpiry: boolean) {
    const { realm, secrets } = this.o;
    return authorize(m, reply, {
      realm,
      secrets,
      nonces: this.nonces,
      clientAddress: address,
      checkExpiry,
      now: this.now(),
    });
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

  private onAllocate(m: StunMessage, link: ClientLink, reply: ReplyFn): void {
    const existing = this.find(link);
    if (existing) {
      // A retransmitted Allocate gets the same answer; any other is a mismatch (RFC 8656 §7.2).
      if (existing.allocateTransactionId.equals(m.transactionId)) link.send(existing.allocateResponse);
      else reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'));
      return;
    }
    const key5 = link.key;
    if (this.pending.has(key5)) return; // still binding a port for the first copy of this request
    const auth = this.auth(m, link.address, reply, true);
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
    const done = this.createAllocation(m, link, auth, evenPort, reserved, fail)
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
    link: ClientLink,
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
        .addAddress(Attr.xorMappedAddress, this.transport(link.address, link.port));
      if (reservationToken) w.add(Attr.reservationToken, reservationToken);
      const response = w
        .addText(Attr.software, SOFTWARE)
        .build({ integrityKey: auth.key, fingerprint: true });
      const allocation = new Allocation(
        link,
        socket,
        relayed,
        auth.username,
        auth.userId,
        this.now() + lifetime * 1000,
        Buffer.from(m.transactionId),
        response,
        {
          counters: this.counters,
          now: this.now,
          bandwidthBps: this.o.bandwidthBps,
        },
      );
      socket.on('error', (err) => this.log?.debug({ err }, 'relay socket error'));
      if (link.stream) this.streamAllocations.set(link.key, allocation);
      else {
        let byPort = this.allocations.get(link.address);
        if (!byPort) this.allocations.set(link.address, (byPort = new Map<number, Allocation>()));
        byPort.set(link.port, allocation);
      }
      this.count++;
      this.perUser.set(auth.userId, (this.perUser.get(auth.userId) ?? 0) + 1);
      socket = null; // owned by the allocation now
      this.countAllocate('success');
      this.log?.debug({ user: auth.userId, relayPort: relayed.port, lifetime }, 'allocation created');
      if (!this.closing) link.send(response);
    } finally {
      socket?.close();
    }
  }

  private countAllocate(result: string): void {
    this.counters.allocate.set(result, (this.counters.allocate.get(result) ?? 0) + 1);
  }

  /** Refresh, CreatePermission and ChannelBind: requests on an existing allocation. */
  private onAllocationRequest(m: StunMessage, link: ClientLink, reply: ReplyFn): void {
    // RFC 8656 §7.3, §9.2, §11.2: authenticate first, then look for the allocation.
    const auth = this.auth(m, link.address, reply, false);
    if (typeof auth === 'number') return;
    const allocation = this.find(link);
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

  private onSend(m: StunMessage, link: ClientLink): void {
    const allocation = this.find(link);
    const peerAttr = getAttr(m, Attr.xorPeerAddress);
    const data = getAttr(m, Attr.data);
    if (!allocation || !peerAttr || !data) return;
    const peer = decodeAddress(peerAttr, true, m.transactionId);
    if (!peer) return;
    allocation.toPeer(data, 0, data.length, peer.address, peer.port, false);
  }

  private remove(allocation: Allocation): Promise<void> {
    const { client } = allocation;
    if (client.stream) {
      if (this.streamAllocations.get(client.key) !== allocation) return Promise.resolve();
      this.streamAllocations.delete(client.key);
    } else {
      const byPort = this.allocations.get(client.address);
      if (byPort?.get(client.port) !== allocation) return Promise.resolve();
      byPort.delete(client.port);
      if (byPort.size === 0) this.allocations.delete(client.address);
    }
    this.count--;
    const left = (this.perUser.get(allocation.userId) ?? 1) - 1;
    if (left > 0) this.perUser.set(allocation.userId, left);
    else this.perUser.delete(allocation.userId);
    this.log?.debug({ user: allocation.userId, relayPort: allocation.relayed.port }, 'allocation deleted');
    return allocation.close();
  }

  /** A snapshot of every allocation, UDP and TCP. */
  private everyAllocation(): Allocation[] {
    const all = [...this.streamAllocations.values()];
    for (const byPort of this.allocations.values()) all.push(...byPort.values());
    return all;
  }

  /** Delete expired allocations (closing their sockets), permissions, channels and reservations. */
  sweep(): void {
    const now = this.now();
    for (const a of this.everyAllocation()) {
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
      for (const a of this.everyAllocation()) all.push(this.remove(a));
      if (this.tcp) all.push(this.tcp.close());
      all.push(new Promise((res) => this.listener.close(() => res())));
      await Promise.all(all);
    })();
    return this.closing;
  }
}
