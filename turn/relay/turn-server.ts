/**
 * The bundled STUN/TURN relay (RFC 8489, RFC 8656): clients over UDP, TCP or TLS on every local address,
 * one listening socket per address so each answer leaves from the address the client contacted; relaying
 * UDP over IPv4 and IPv6 (dual allocations included). Binding, Allocate, Refresh, CreatePermission,
 * ChannelBind, Send/Data indications and ChannelData, with TURN REST API credentials, stateless nonces, a
 * peer-address policy, quotas and lifetimes. Nothing read from the network can throw out of a handler.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeAddress,
  decodeType,
  encodeUnknownAttributes,
  getAttr,
  parseStun,
  unknownRequired,
  type StunMessage,
} from '../stun/message.js';
import {
  CHANNEL_HEADER_LENGTH,
  MAX_CHANNEL,
  decodeChannelData,
  isChannelData,
} from '../stun/channel-data.js';
import { PeerPolicy } from '../peer-policy.js';
import { transportOf, type Allocation, type ClientLink, type LocalEndpoint } from './allocation.js';
import { AllocationTable, type UdpClients } from './allocation-table.js';
import { AllocationRequests } from './allocation-requests.js';
import { Allocator } from './allocator.js';
import { ConnectionBudget } from './connection-budget.js';
import { StreamListener } from './stream-listener.js';
import { TlsCertificates } from './tls-certificates.js';
import { NonceIssuer, authorize, type ReplyFn } from './auth.js';
import { listenAddresses } from './listen-addresses.js';
import { newCounters, type RelayCounters } from './relay-metrics.js';
import { observe } from './bucket-histogram.js';
import { RelayPorts } from './relay-ports.js';
import { bindListenerSocket, type ListenerSocket } from './worker-hooks.js';
import { Revocations } from './revocations.js';
import { RoomAddresses } from './room-addresses.js';
import { RoomScope } from './room-scope.js';
import { SOFTWARE, TURN_SERVER_DEFAULTS, type Limits, type TurnServerOptions } from './options.js';
import type { Relay, RelayAddress, RelayStats } from './relay.js';

export { TURN_SERVER_DEFAULTS, type TurnServerOptions };

interface UdpListener {
  local: LocalEndpoint;
  socket: ListenerSocket;
}

export class TurnServer implements Relay {
  readonly counters: RelayCounters = newCounters();
  private readonly table: AllocationTable;
  private readonly allocator: Allocator;
  private readonly udp: UdpListener[] = [];
  private readonly streams: StreamListener[] = [];
  /** TCP and TLS connections together, capped by `maxTcpConnections` and per client by `maxStreamsPerIp`. */
  private readonly connections: ConnectionBudget;
  /** The TLS certificate source when TLS is on; this relay made it and closes it. */
  private certificates: TlsCertificates | undefined;
  private readonly limits: Limits;
  private readonly ports: RelayPorts;
  private readonly policy: PeerPolicy;
  private readonly nonces: NonceIssuer;
  private readonly revocations: Revocations;
  private readonly roomAddresses: RoomAddresses;
  private readonly scope: RoomScope;
  private readonly requests: AllocationRequests;
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | undefined;
  private closing: Promise<void> | null = null;
  address: RelayAddress = { port: 0, tcpPort: null, tlsPort: null, addresses: [] };

  private constructor(private readonly o: TurnServerOptions) {
    this.now = o.now ?? Date.now;
    const limits: Limits = { ...TURN_SERVER_DEFAULTS };
    for (const k of Object.keys(limits) as Array<keyof Limits>) limits[k] = o[k] ?? limits[k];
    this.limits = limits;
    this.connections = new ConnectionBudget(limits.maxTcpConnections, limits.maxStreamsPerIp);
    this.ports = new RelayPorts({ ...limits, minPort: o.minPort, maxPort: o.maxPort, now: this.now });
    this.table = new AllocationTable(
      this.now,
      (user) => (user === undefined ? this.ports.reserved : this.ports.reservedBy(user)),
      // An expired allocation ended at its expiry, however late the sweep notices it.
      (a) => {
        observe(this.counters.allocationLifetime, (Math.min(this.now(), a.expiresAt) - a.createdAt) / 1000);
        o.worker?.release(a.userId);
      },
    );
    this.policy = new PeerPolicy({ allowed: o.allowedPeers, denied: o.deniedPeers });
    // Nonces keyed from the signing secret: relays sharing it (and this one after a restart) accept each
    // other's nonces, so a client never sees a needless 438.
    const secret = o.secrets[0];
    const nonceKey = secret
      ? createHmac('sha256', secret).update('turn nonce key').digest()
      : randomBytes(32);
    this.nonces = new NonceIssuer(limits.nonceLifetimeSec, this.now, nonceKey);
    this.revocations = new Revocations(this.now);
    this.roomAddresses = new RoomAddresses({
      ttlMs: limits.roomAddressTtlMs,
      maxPerRoom: limits.maxAddressesPerRoom,
      maxRooms: limits.maxAnnouncedRooms,
      maxWaits: limits.maxRoomScopeWaits,
      now: this.now,
    });
    this.scope = new RoomScope({
      mode: o.roomScope ?? 'off',
      waitMs: limits.roomScopeWaitMs,
      addresses: this.roomAddresses,
      table: this.table,
      now: this.now,
    });
    this.allocator = new Allocator({
      options: o,
      limits,
      table: this.table,
      ports: this.ports,
      counters: this.counters,
      now: this.now,
      closing: () => this.closing !== null,
      addresses: () => this.address.addresses,
      revoked: (user, expiresAt) => this.revocations.refuses(user, expiresAt),
      scope: this.scope,
      logger: o.logger,
    });
    this.requests = new AllocationRequests({
      table: this.table,
      counters: this.counters,
      limits,
      policy: this.policy,
      scope: this.scope,
      lifetimeSec: (m, allocate) => this.allocator.lifetimeSec(m, allocate),
      now: this.now,
      logger: o.logger,
    });
  }

  /**
   * Listen on every address `hosts` stands for: UDP and (unless `tcp` is false) TCP on `port` at each,
   * and TLS on `tlsPort` when it is set. With port 0 the first socket picks the number and the others take
   * the same one; when that number is taken elsewhere a few fresh ones are tried.
   */
  static async start(options: TurnServerOptions): Promise<TurnServer> {
    const server = new TurnServer(options);
    const addresses = listenAddresses(options.hosts);
    if (addresses.length === 0)
      throw new Error(`TURN: no local address to listen on for ${options.hosts.join(',')}`);
    if (options.tlsPort != null)
      server.certificates = TlsCertificates.forRelay({
        certFile: options.tlsCertFile,
        keyFile: options.tlsKeyFile,
        // The self-signed default names every address it serves, and the names clients use on this host.
        hosts: [...new Set(['localhost', ...addresses, ...options.externalIps.map((m) => m.external)])],
        logger: options.logger,
      });
    for (let attempt = 0; ; attempt++) {
      const taken = await server.listenAll(addresses, options.port, options.tlsPort ?? null);
      if (taken === null) break;
      if ((options.port === 0 || options.tlsPort === 0) && attempt < 8) continue;
      server.certificates?.close();
      // Shaped as Node's own listen errors (code, address, port), so the entry points can name the
      // variable that sets the port. Below 1024 the likely cause is privilege, above it another process.
      const m = /^\[?(.*?)\]?:(\d+)\/\w+$/.exec(taken);
      const port = Number(m?.[2]);
      throw Object.assign(new Error(`TURN port ${taken} is not available`), {
        code: port < 1024 ? 'EACCES' : 'EADDRINUSE',
        address: m?.[1],
        port,
      });
    }
    server.sweeper = setInterval(() => server.sweep(), server.limits.sweepIntervalMs);
    server.sweeper.unref();
    return server;
  }

  /** Bind every listener; on failure close what was bound and return the address:port that failed. */
  private async listenAll(addresses: string[], port: number, tlsPort: number | null): Promise<string | null> {
    let id = 0;
    const at = (address: string, p: number, transport: string) =>
      `${isIPv6(address) ? `[${address}]` : address}:${p}/${transport}`;
    for (const address of addresses) {
      const { worker } = this.o;
      const socket = await (worker?.bindListener
        ? worker.bindListener(address, port)
        : bindListenerSocket(address, port, worker?.reusePort));
      if (!socket) return this.unlisten(at(address, port, 'udp'));
      port = socket.port;
      const local: LocalEndpoint = { id: id++, address, port, transport: 'udp' };
      this.udp.push({ local, socket });
      this.serveUdp(local, socket);
      if (this.o.tcp !== false) {
        const tcp = await this.listenStream({ id: id++, address, port, transport: 'tcp' });
        if (!tcp) return this.unlisten(at(address, port, 'tcp'));
        this.streams.push(tcp);
      }
      if (tlsPort !== null) {
        const tls = await this.listenStream({ id: id++, address, port: tlsPort, transport: 'tls' });
        if (!tls) return this.unlisten(at(address, tlsPort, 'tls'));
        tlsPort = tls.port;
        this.streams.push(tls);
      }
    }
    this.address = { port, tcpPort: this.o.tcp === false ? null : port, tlsPort, addresses };
    return null;
  }

  private async unlisten(failed: string): Promise<string> {
    const udp = this.udp.splice(0);
    const streams = this.streams.splice(0);
    await Promise.all([...udp.map(({ socket }) => socket.close()), ...streams.map((s) => s.close())]);
    return failed;
  }

  private serveUdp(local: LocalEndpoint, socket: ListenerSocket): void {
    const clients = this.table.udpClients(local.id);
    socket.onMessage((msg, address, port) => this.onDatagram(msg, address, port, local, socket, clients));
    socket.onError?.((err) => this.log?.warn({ err, address: local.address }, 'relay listener error'));
  }

  private listenStream(local: LocalEndpoint): Promise<StreamListener | null> {
    const { certificates } = this;
    return StreamListener.start({
      local,
      maxConnections: this.limits.maxTcpConnections,
      connections: this.connections,
      tls:
        local.transport === 'tls' && certificates
          ? { certificates, handshakeTimeoutMs: this.limits.tlsHandshakeTimeoutMs }
          : undefined,
      idleMs: this.limits.tcpIdleMs,
      sendBufferBytes: this.limits.tcpSendBufferBytes,
      counters: this.counters,
      logger: this.o.logger,
      onFrame: (frame, link) => this.onFrame(frame, link),
      allocated: (link) => this.table.ofStream(link) !== undefined,
      onClose: (link) => {
        const allocation = this.table.ofStream(link);
        if (allocation) void this.table.remove(allocation);
      },
    });
  }

  private get log(): Logger | undefined {
    return this.o.logger;
  }

  stats(): RelayStats {
    let sockets = this.ports.reserved;
    const byTransport = { udp: 0, tcp: 0, tls: 0 };
    for (const a of this.table.all()) {
      sockets += a.relays.length;
      byTransport[a.client.local.transport]++;
    }
    let connections = 0;
    for (const s of this.streams) connections += s.size;
    return {
      allocations: this.table.size,
      allocationsByTransport: byTransport,
      relaySockets: sockets,
      tcpConnections: connections,
      counters: this.counters,
    };
  }

  /** Every datagram on a listening port. ChannelData first: it is the hot path, and builds nothing. */
  private onDatagram(
    buf: Buffer,
    address: string,
    port: number,
    local: LocalEndpoint,
    socket: ListenerSocket,
    clients: UdpClients,
  ): void {
    try {
      if (isChannelData(buf))
        return this.onChannelData(buf, this.table.live(clients.get(address)?.get(port)));
      this.onStunBytes(buf, udpLink(local, socket, address, port));
    } catch (err) {
      this.counters.malformed++;
      this.log?.warn({ err }, 'datagram handler failed');
    }
  }

  /** Every frame from a TCP or TLS client. */
  private onFrame(buf: Buffer, link: ClientLink): void {
    try {
      if (isChannelData(buf)) return this.onChannelData(buf, this.table.find(link));
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
    allocation.toPeer(buf, CHANNEL_HEADER_LENGTH, frame.length, binding, true);
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
        return this.onBinding(m, link, reply);
      case Method.allocate:
        return this.allocator.onAllocate(m, link, reply, () => this.auth(m, link, reply, true));
      case Method.refresh:
      case Method.createPermission:
      case Method.channelBind:
        return this.onAllocationRequest(m, link, reply);
      default:
        return reply(StunClass.error, (w) => w.addError(400, 'Bad Request'));
    }
  }

  /**
   * Binding (RFC 8489 §6.3): the client's reflexive address. Unauthenticated, but not unchecked: a
   * comprehension-required attribute we do not understand (CHANGE-REQUEST of RFC 5780, say) gets 420.
   */
  private onBinding(m: StunMessage, link: ClientLink, reply: ReplyFn): void {
    const unknown = unknownRequired(m);
    if (unknown.length > 0)
      return reply(StunClass.error, (w) =>
        w.addError(420, 'Unknown Attribute').add(Attr.unknownAttributes, encodeUnknownAttributes(unknown)),
      );
    reply(StunClass.success, (w) => w.addAddress(Attr.xorMappedAddress, transportOf(link)));
  }

  private auth(m: StunMessage, link: ClientLink, reply: ReplyFn, checkExpiry: boolean) {
    const { realm, secrets } = this.o;
    return authorize(m, reply, {
      realm,
      secrets,
      nonces: this.nonces,
      clientAddress: link.address,
      checkExpiry,
      now: this.now(),
      revoked: (user, expiresAt) => this.revocations.refuses(user, expiresAt),
    });
  }

  /** Refresh, CreatePermission and ChannelBind: requests on an existing allocation. */
  private onAllocationRequest(m: StunMessage, link: ClientLink, reply: ReplyFn): void {
    // RFC 8656 §7.3, §9.2, §11.2: authenticate first, then look for the allocation.
    const auth = this.auth(m, link, reply, false);
    if (typeof auth !== 'number') this.requests.handle(m, link, reply, auth);
  }

  private onSend(m: StunMessage, link: ClientLink): void {
    const allocation = this.table.find(link);
    const peerAttr = getAttr(m, Attr.xorPeerAddress);
    const data = getAttr(m, Attr.data);
    if (!allocation || !peerAttr || !data) return;
    const peer = decodeAddress(peerAttr, true, m.transactionId);
    if (!peer) return;
    allocation.toPeer(data, 0, data.length, peer, false);
  }

  /**
   * Revoke a user: every allocation of theirs goes now (relay sockets, permissions and channels; a TCP or
   * TLS client's connection is closed too), with the ports they reserved, and from now on any credential
   * of theirs expiring at or before `credentialsExpiringBy` (unix seconds) gets 401, as a bad credential
   * would. A credential expiring later (minted after the revocation) is accepted.
   */
  revokeUser(userId: string, credentialsExpiringBy: number): void {
    this.revocations.revoke(userId, credentialsExpiringBy);
    const allocations = this.table.ofUser(userId);
    for (const a of allocations) {
      void this.table.remove(a);
      a.client.close?.();
    }
    const reservations = this.ports.releaseUser(userId);
    this.counters.revocations++;
    this.log?.info(
      { user: userId, credentialsExpiringBy, allocations: allocations.length, reservations },
      'user revoked on the relay',
    );
  }

  /**
   * Addresses the peers of `room` use (from their candidates): room-scoped allocations of that room may
   * be permitted toward them. Entries that are not IP literals are ignored; see room-addresses.ts for how
   * long they are kept.
   */
  announceRoomAddresses(room: string, addresses: readonly string[]): void {
    this.roomAddresses.announce(room, addresses);
  }

  /** Delete what has expired: allocations (closing their sockets), permissions, channels, reservations,
   * revocations and announced addresses. */
  sweep(): void {
    const now = this.now();
    this.table.sweep(now);
    this.ports.sweep(now);
    this.revocations.sweep(now);
    this.roomAddresses.sweep(now);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      this.roomAddresses.close();
      for (const { socket } of this.udp) socket.stop();
      // Allocates still binding a port see `closing` and give their socket back; wait for them first.
      await this.allocator.settled();
      const all: Promise<void>[] = [this.ports.close()];
      for (const a of this.table.all()) all.push(this.table.remove(a));
      for (const s of this.streams) all.push(s.close());
      for (const { socket } of this.udp) all.push(socket.close());
      await Promise.all(all);
      this.certificates?.close();
    })();
    return this.closing;
  }
}

/** A UDP client: answers go out through the listening socket it contacted, so from that address. */
function udpLink(local: LocalEndpoint, socket: ListenerSocket, address: string, port: number): ClientLink {
  return {
    address,
    port,
    key: `${local.id}|${address}|${port}`,
    local,
    stream: false,
    send(buf) {
      socket.send(buf, 0, buf.length, port, address);
    },
  };
}
