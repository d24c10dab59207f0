/**
 * A small TURN client over a real UDP socket, or a TCP or TLS stream (RFC 8656 §3.1), for relay tests:
 * long-term auth with REST credentials (401/438 handled as RFC 8489 §9.2.5 says), Allocate, Refresh, CreatePermission, ChannelBind, Send and
 * ChannelData, and a peer socket helper. Built on the relay's own STUN codec; interop with clients we did
 * not write is tested separately (libwebrtc, Chromium, coturn's turnutils_uclient).
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect as tcpConnect, isIPv6, type Socket as StreamSocket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { FrameReader } from '../turn/relay/tcp-framing.js';
import { CHANNEL_HEADER_LENGTH, decodeChannelData, encodeChannelData } from '../turn/stun/channel-data.js';
import { longTermKey } from '../turn/relay/auth.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeAddress,
  getAllAttrs,
  getAttr,
  getText,
  parseStun,
  randomTransactionId,
  verifyIntegrity,
  type StunMessage,
  type TransportAddress,
} from '../turn/stun/message.js';

export interface TurnResponse {
  message: StunMessage;
  /** Error code, or 0 for a success response. */
  code: number;
  /** Whether the response carried a MESSAGE-INTEGRITY valid under our key. */
  integrity: boolean;
}

export function errorCode(m: StunMessage): number {
  const v = getAttr(m, Attr.errorCode);
  return v && v.length >= 4 ? v[2]! * 100 + v[3]! : 0;
}

export function udpSocket(host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket(isIPv6(host) ? { type: 'udp6', ipv6Only: true } : { type: 'udp4' });
    s.bind(0, host, () => resolve(s));
  });
}

type Extra = (w: StunWriter) => void;

export type TurnTransport = 'udp' | 'tcp' | 'tls';

export interface StreamConnectOptions {
  transport: 'tcp' | 'tls';
  /** For TLS: trust (`ca`), `servername`, `minVersion`/`maxVersion`. */
  tls?: ConnectionOptions;
}

/** How bytes reach the relay: a UDP socket, or a stream whose frames are cut by the relay's own reader. */
interface Wire {
  send(buf: Buffer): void;
  close(): Promise<void>;
}

export class TurnClient {
  private readonly udp: Socket | undefined;
  /** The TCP or TLS connection of a stream client; undefined over UDP. */
  readonly stream: StreamSocket | undefined;
  readonly transport: TurnTransport;
  private readonly wire: Wire;
  private tap: ((frame: Buffer) => void) | undefined;
  private nonce = '';
  private realm = '';
  private key: Buffer | undefined;
  private readonly waiting = new Map<string, (r: StunMessage) => void>();
  /** Data that arrived from peers: ChannelData (with its channel) and Data indications. */
  readonly received: Array<{ data: Buffer; channel?: number; peer?: TransportAddress }> = [];
  relayed: TransportAddress | undefined;
  /** Every XOR-RELAYED-ADDRESS of the last successful Allocate: two for a dual allocation. */
  relayedAll: TransportAddress[] = [];
  /** The last request sent, to test retransmissions. */
  lastRequest: Buffer | undefined;

  private constructor(
    socket: Socket | StreamSocket,
    readonly server: { host: string; port: number },
    public username: string,
    public password: string,
    transport: TurnTransport = 'udp',
  ) {
    this.transport = transport;
    const deliver = (buf: Buffer) => (this.tap ? this.tap(buf) : this.onMessage(buf));
    if (transport === 'udp') {
      const udp = socket as Socket;
      this.udp = udp;
      udp.on('message', deliver);
      this.wire = {
        send: (buf) => udp.send(buf, server.port, server.host),
        close: () => new Promise((resolve) => udp.close(() => resolve())),
      };
    } else {
      const stream = socket as StreamSocket;
      this.stream = stream;
      const reader = new FrameReader();
      stream.on('data', (chunk: Buffer) => {
        for (const frame of reader.push(chunk) ?? []) deliver(frame);
      });
      stream.on('error', () => undefined);
      this.wire = {
        send: (buf) => void (stream.destroyed || stream.write(buf)),
        close: () =>
          new Promise((resolve) => {
            if (stream.destroyed) return resolve();
            stream.once('close', () => resolve());
            stream.destroy();
          }),
      };
    }
  }

  /** The UDP socket of a UDP client (a stream client has `stream` instead). */
  get socket(): Socket {
    if (!this.udp) throw new Error(`a ${this.transport} TurnClient has no UDP socket; use .stream`);
    return this.udp;
  }

  static async connect(
    server: { host: string; port: number },
    username: string,
    password: string,
    /** Local address of the client's socket; default loopback of the server's family. */
    localHost: string = isIPv6(server.host) ? '::1' : '127.0.0.1',
  ): Promise<TurnClient> {
    return new TurnClient(await udpSocket(localHost), server, username, password);
  }

  /** A client over TCP or TLS to the relay's stream port (RFC 8656 §3.1); the allocation still relays UDP. */
  static async connectStream(
    server: { host: string; port: number },
    username: string,
    password: string,
    options: StreamConnectOptions,
  ): Promise<TurnClient> {
    const socket =
      options.transport === 'tls'
        ? tlsConnect({ host: server.host, port: server.port, ...options.tls })
        : tcpConnect(server.port, server.host);
    await new Promise<void>((resolve, reject) => {
      socket.once(options.transport === 'tls' ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
    return new TurnClient(socket, server, username, password, options.transport);
  }

  /**
   * Hand every message from the relay (a datagram, or a frame cut from the stream with ChannelData
   * padding removed) to `listener` instead of this client; for load generators that parse their own.
   */
  takeFrames(listener: (frame: Buffer) => void): void {
    this.tap = listener;
  }

  private onMessage(buf: Buffer): void {
    const frame = decodeChannelData(buf);
    if (frame) {
      const data = Buffer.from(buf.subarray(CHANNEL_HEADER_LENGTH, CHANNEL_HEADER_LENGTH + frame.length));
      this.received.push({ channel: frame.channel, data });
      return;
    }
    const parsed = parseStun(buf);
    if (!parsed.ok) return;
    const m = parsed.message;
    if (m.cls === StunClass.indication && m.method === Method.data) {
      const peer = getAttr(m, Attr.xorPeerAddress);
      const data = getAttr(m, Attr.data);
      if (peer && data)
        this.received.push({
          data: Buffer.from(data),
          peer: decodeAddress(peer, true, m.transactionId) ?? undefined,
        });
      return;
    }
    const id = m.transactionId.toString('hex');
    this.waiting.get(id)?.(m);
  }

  /** Sign later requests with other credentials (the nonce is kept). */
  setCredentials(username: string, password: string): void {
    this.username = username;
    this.password = password;
    this.key = longTermKey(username, this.realm, password);
  }

  /** Send raw bytes to the relay: a datagram to its listening port, or onto the stream. */
  sendRaw(buf: Buffer): void {
    this.wire.send(buf);
  }

  /**
   * One request/response exchange, retransmitted over UDP (RFC 8489 §6.2.1, shortened for loopback) and
   * sent once over a stream, which is reliable (RFC 8489 §6.2.2).
   */
  transact(build: Buffer | ((id: Buffer) => Buffer), timeoutMs = 2000): Promise<StunMessage | null> {
    const id = randomTransactionId();
    const buf = typeof build === 'function' ? build(id) : build;
    this.lastRequest = buf;
    const txid = (typeof build === 'function' ? id : buf.subarray(8, 20)).toString('hex');
    return new Promise((resolve) => {
      const resend = () => this.sendRaw(buf);
      resend();
      const timer = this.transport === 'udp' ? setInterval(resend, 250) : undefined;
      const deadline = setTimeout(() => finish(null), timeoutMs);
      const finish = (m: StunMessage | null) => {
        clearInterval(timer);
        clearTimeout(deadline);
        this.waiting.delete(txid);
        resolve(m);
      };
      this.waiting.set(txid, finish);
    });
  }

  /** An authenticated request: a first try gets 401 with realm and nonce; a 438 renews the nonce. */
  async request(
    method: number,
    extra: Extra = () => undefined,
    opts: { sign?: boolean } = {},
  ): Promise<TurnResponse> {
    const sign = opts.sign ?? true;
    for (let attempt = 0; attempt < 3; attempt++) {
      const m = await this.transact((id) => {
        const w = new StunWriter(method, StunClass.request, id);
        extra(w);
        if (!sign || !this.nonce) return w.build({ fingerprint: true });
        w.addText(Attr.username, this.username)
          .addText(Attr.realm, this.realm)
          .addText(Attr.nonce, this.nonce);
        return w.build({ integrityKey: this.key, fingerprint: true });
      });
      if (!m) throw new Error(`no answer to method 0x${method.toString(16)}`);
      const code = errorCode(m);
      if (sign && (code === 401 || code === 438) && getText(m, Attr.nonce) && attempt < 2) {
        const fresh = !this.nonce || code === 438;
        this.nonce = getText(m, Attr.nonce) ?? '';
        this.realm = getText(m, Attr.realm) ?? '';
        this.key = longTermKey(this.username, this.realm, this.password);
        if (fresh) continue;
      }
      const integrity = this.key !== undefined && verifyIntegrity(m, this.key);
      return { message: m, code, integrity };
    }
    throw new Error('authentication loop');
  }

  async allocate(extra: Extra = () => undefined): Promise<TurnResponse> {
    const r = await this.request(Method.allocate, (w) => {
      w.add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0]));
      extra(w);
    });
    if (r.code === 0) {
      this.relayedAll = getAllAttrs(r.message, Attr.xorRelayedAddress).flatMap(
        (v) => decodeAddress(v, true, r.message.transactionId) ?? [],
      );
      this.relayed = this.relayedAll[0];
    }
    return r;
  }

  refresh(lifetime?: number): Promise<TurnResponse> {
    return this.request(Method.refresh, (w) => {
      if (lifetime !== undefined) w.addUint32(Attr.lifetime, lifetime);
    });
  }

  createPermission(...peers: Array<{ address: string; port: number }>): Promise<TurnResponse> {
    return this.request(Method.createPermission, (w) => {
      for (const p of peers) w.addAddress(Attr.xorPeerAddress, { ...p, family: family(p.address) });
    });
  }

  channelBind(channel: number, peer: { address: string; port: number }): Promise<TurnResponse> {
    return this.request(Method.channelBind, (w) => {
      w.add(Attr.channelNumber, Buffer.from([channel >> 8, channel & 0xff, 0, 0]));
      w.addAddress(Attr.xorPeerAddress, { ...peer, family: family(peer.address) });
    });
  }

  /** A Send indication (RFC 8656 §10.1). */
  send(peer: { address: string; port: number }, data: Buffer): void {
    this.sendRaw(
      new StunWriter(Method.send, StunClass.indication, randomTransactionId())
        .addAddress(Attr.xorPeerAddress, { ...peer, family: family(peer.address) })
        .add(Attr.data, data)
        .build(),
    );
  }

  /** ChannelData (RFC 8656 §12.4), padded to four bytes over a stream (§12.5). */
  sendChannel(channel: number, data: Buffer): void {
    this.sendRaw(encodeChannelData(channel, data, this.transport !== 'udp'));
  }

  close(): Promise<void> {
    return this.wire.close();
  }
}

function family(address: string): 'IPv4' | 'IPv6' {
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

/** Poll until `check` is true or the bound passes (a bound on waiting, not a speed assertion). */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  everyMs = 10,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}
