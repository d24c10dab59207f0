/**
 * One TURN allocation (RFC 8656 §5): its relay sockets (one, or two for a dual allocation), permissions
 * and channel bindings, and the data path between the client and its peers. The data path is O(1) per packet: permissions are looked up by
 * peer IP and channels by number or by peer IP and port in maps, and the only buffer made per packet is
 * the datagram sent on.
 */
import type { Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  randomTransactionId,
  type TransportAddress,
} from '../stun/message.js';
import { encodeChannelData } from '../stun/channel-data.js';
import type { RelayCounters } from './relay-metrics.js';

/**
 * Largest peer datagram relayed: what still fits a Data indication (20-byte header, XOR-PEER-ADDRESS,
 * DATA header) in one IPv4 UDP datagram of 65 507 bytes.
 */
export const MAX_PEER_PAYLOAD = 65_507 - 20 - 12 - 4;

export interface ChannelBinding extends TransportAddress {
  number: number;
  expiresAt: number;
}

/** One listening socket of the relay: a local address, port and transport a client can contact. */
export interface LocalEndpoint {
  /** Unique among the relay's listeners. */
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
}

/**
 * Where a client's messages come from and its answers go: a 5-tuple on one UDP listener, or one TCP or
 * TLS connection (RFC 8656 §3.1). `send` never throws.
 */
export interface ClientLink {
  readonly address: string;
  readonly port: number;
  /** The listener the client contacted: answers leave from it, and relayed addresses follow it. */
  readonly local: LocalEndpoint;
  /** Unique among the clients of both transports. */
  readonly key: string;
  /** A stream: ChannelData is padded to four bytes (RFC 8656 §12.5). */
  readonly stream: boolean;
  send(buf: Buffer): void;
  /** End a stream client's connection (its allocation goes with it); undefined over UDP. */
  close?(): void;
}

/** A relay socket and the address advertised for it; a dual allocation (RFC 8656 §7.2) has two. */
export interface RelaySocket {
  socket: Socket;
  relayed: TransportAddress;
}

/** The client's transport address, as XOR-MAPPED-ADDRESS carries it. */
export function transportOf(link: ClientLink): TransportAddress {
  return { address: link.address, port: link.port, family: isIPv6(link.address) ? 'IPv6' : 'IPv4' };
}

export interface AllocationContext {
  counters: RelayCounters;
  now: () => number;
  /** Bytes per second in both directions together; undefined for no cap. */
  bandwidthBps: number | undefined;
}

export class Allocation {
  readonly permissions = new Map<string, number>();
  readonly channels = new Map<number, ChannelBinding>();
  private readonly channelsByPeer = new Map<string, Map<number, ChannelBinding>>();
  private tokens: number;
  private tokensAt: number;
  private closed = false;
  /** When the allocation was made (ctx.now(), ms), for the lifetime histogram. */
  readonly createdAt: number;

  constructor(
    readonly client: ClientLink,
    /** One relay socket per address family allocated, the requested family first. */
    readonly relays: readonly RelaySocket[],
    readonly username: string,
    readonly userId: string,
    /** The room its credential is bound to (room scope); undefined for an unscoped credential. */
    readonly room: string | undefined,
    public expiresAt: number,
    /** The Allocate success response, re-sent for a retransmitted Allocate (RFC 8656 §7.2). */
    readonly allocateTransactionId: Buffer,
    readonly allocateResponse: Buffer,
    private readonly ctx: AllocationContext,
  ) {
    this.tokens = ctx.bandwidthBps ?? 0;
    this.tokensAt = this.createdAt = ctx.now();
    for (const { socket, relayed } of relays)
      socket.on('message', (msg, rinfo) => {
        try {
          this.fromPeer(msg, rinfo.address, rinfo.port, relayed.family);
        } catch {
          // Nothing a peer sends may end the process; count it and go on.
          ctx.counters.malformed++;
        }
      });
  }

  /** The relay socket for peers of this family; undefined when none was allocated (443). */
  relayFor(family: TransportAddress['family']): RelaySocket | undefined {
    for (const r of this.relays) if (r.relayed.family === family) return r;
    return undefined;
  }

  /** Install or refresh a permission (RFC 8656 §9). */
  permit(peerIp: string, lifetimeMs: number): void {
    this.permissions.set(peerIp, this.ctx.now() + lifetimeMs);
  }

  hasPermission(peerIp: string, now: number): boolean {
    const until = this.permissions.get(peerIp);
    return until !== undefined && until > now;
  }

  /** The binding of this number, or of this peer, if one exists (expired ones count until swept). */
  channelFor(number: number): ChannelBinding | undefined {
    return this.channels.get(number);
  }

  channelOfPeer(address: string, port: number): ChannelBinding | undefined {
    return this.channelsByPeer.get(address)?.get(port);
  }

  bind(number: number, peer: TransportAddress, lifetimeMs: number): void {
    const { address, port, family } = peer;
    const expiresAt = this.ctx.now() + lifetimeMs;
    const existing = this.channels.get(number);
    if (existing) {
      existing.expiresAt = expiresAt;
      return;
    }
    const binding: ChannelBinding = { number, address, port, family, expiresAt };
    this.channels.set(number, binding);
    let byPort = this.channelsByPeer.get(address);
    if (!byPort) this.channelsByPeer.set(address, (byPort = new Map<number, ChannelBinding>()));
    byPort.set(port, binding);
  }

  /** Drop expired permissions and channel bindings (RFC 8656 §9, §12). */
  sweep(now: number): void {
    for (const [ip, until] of this.permissions) if (until <= now) this.permissions.delete(ip);
    for (const [number, b] of this.channels) {
      if (b.expiresAt > now) continue;
      this.channels.delete(number);
      const byPort = this.channelsByPeer.get(b.address);
      byPort?.delete(b.port);
      if (byPort?.size === 0) this.channelsByPeer.delete(b.address);
    }
  }

  /**
   * Client → peer, from a Send indication or ChannelData; the payload is a range of `buf`. Permissions
   * exist only for peers of an allocated family, so the relay socket is found for every permitted peer.
   */
  toPeer(
    buf: Buffer,
    offset: number,
    length: number,
    peer: { address: string; port: number; family: TransportAddress['family'] },
    channel: boolean,
  ): void {
    const c = this.ctx.counters;
    const { address, port } = peer;
    const relay = this.relays.length === 1 ? this.relays[0] : this.relayFor(peer.family);
    if (!relay || !this.hasPermission(address, this.ctx.now())) {
      c.droppedNoPermission++;
      return;
    }
    if (!this.spend(length)) {
      c.droppedBandwidth++;
      return;
    }
    if (channel) c.channelDataIn++;
    else c.sendIndications++;
    c.packetsToPeer++;
    c.bytesToPeer += length;
    this.send(relay.socket, buf, offset, length, port, address);
  }

  /** Peer → client: ChannelData when a channel is bound to the peer, else a Data indication. */
  private fromPeer(msg: Buffer, address: string, port: number, family: TransportAddress['family']): void {
    const c = this.ctx.counters;
    const now = this.ctx.now();
    // Past its lifetime an allocation has no permissions left, swept or not.
    if (this.expiresAt <= now || !this.hasPermission(address, now)) {
      c.droppedNoPermission++;
      return;
    }
    if (msg.length > MAX_PEER_PAYLOAD) {
      c.malformed++;
      return;
    }
    if (!this.spend(msg.length)) {
      c.droppedBandwidth++;
      return;
    }
    c.packetsToClient++;
    c.bytesToClient += msg.length;
    const binding = this.channelOfPeer(address, port);
    let out: Buffer;
    if (binding && binding.expiresAt > now) {
      // RFC 8656 §12.5: over UDP the ChannelData need not be padded; over a stream it must be.
      out = encodeChannelData(binding.number, msg, this.client.stream);
      c.channelDataOut++;
    } else {
      out = new StunWriter(Method.data, StunClass.indication, randomTransactionId())
        .addAddress(Attr.xorPeerAddress, { address, port, family })
        .add(Attr.data, msg)
        .build();
      c.dataIndications++;
    }
    if (!this.closed) this.client.send(out);
  }

  /** Token bucket over bytes in both directions; a burst of one second's worth. */
  private spend(bytes: number): boolean {
    const rate = this.ctx.bandwidthBps;
    if (rate === undefined) return true;
    const now = this.ctx.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.tokensAt) * rate) / 1000);
    this.tokensAt = now;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }

  private send(
    socket: Socket,
    buf: Buffer,
    offset: number,
    length: number,
    port: number,
    address: string,
  ): void {
    if (this.closed) return;
    try {
      socket.send(buf, offset, length, port, address);
    } catch {
      // A socket closed under us (relay stopping): the packet is dropped, never thrown out of a handler.
    }
  }

  /** Idempotent: stops relaying at once and resolves when every relay socket is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.relays.map(({ socket }) => closeSocket(socket)));
  }
}

/** Close a UDP socket, resolving when it is closed (at once when it already was). */
export function closeSocket(socket: Socket): Promise<void> {
  socket.removeAllListeners('message');
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
