/**
 * A `Link` on the platform's own RTCPeerConnection (the page's, or @roamhq/wrtc's in Node), negotiated
 * with perfect negotiation (`negotiation.ts`), so that it can restart ICE on the same connection, answer
 * any offer, roll back in glare, and talk to a peer that runs nothing but the WebRTC spec.
 *
 * Why not simple-peer 9 any more: it cannot restart ICE (it destroys itself on ICE failure), drops the
 * candidates' `usernameFragment`, has no rollback (glare dropped an offer), and its sources need Node
 * globals in a browser bundle, where it alone weighed 28 KB gzip of the 40 KB budget.
 *
 * Data channels (`signaling/PROTOCOL-PEERS.md`):
 * - `~relay` (negotiated, SCTP stream 1001, ordered, reliable): the SDK's framed messages and acks;
 * - `~relay-unreliable` (negotiated, stream `unreliableChannelId`, 1000 by default: unordered, no
 *   retransmits): the SDK's unreliable messages;
 * - any other channel, opened by either side in-band (DCEP, RFC 8832): application data of that label,
 *   delivered as sent, with no framing.
 */
import { TypedEmitter } from '../events/typed-emitter.js';
import type { SignalPayload } from '../../signaling/protocol/light/index.js';
import type { WebRtcImplementation } from '../platform/platform.js';
import type { Link, LinkEvents, LinkOptions } from './link.js';
import { Negotiation } from './negotiation.js';
import { sessionOfSdp, ufragOfSdp } from './signal-router.js';

/** SCTP stream id of the SDK's reliable negotiated channel. */
export const RELIABLE_CHANNEL_ID = 1001;
/** Messages held per app channel until it opens. */
const MAX_HELD_APP_MESSAGES = 256;

const decoder = new TextDecoder();

function asText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return decoder.decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) return decoder.decode(data);
  return null;
}

function asAppData(data: unknown): string | Uint8Array | null {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** Ordered with no retransmit or lifetime limit (some stacks report an unset limit as 65535). */
function isReliable(ch: RTCDataChannel): boolean {
  const unset = (v: number | null | undefined) => v === null || v === undefined || v === 65535;
  return ch.ordered && unset(ch.maxRetransmits) && unset(ch.maxPacketLifeTime);
}

class RtcLink extends TypedEmitter<LinkEvents> implements Link {
  readonly initiator: boolean;
  remoteUfrag: string | null = null;
  remoteSession: string | null = null;
  private readonly pc: RTCPeerConnection;
  private readonly negotiation: Negotiation;
  private reliable: RTCDataChannel | null = null;
  private unreliable: RTCDataChannel | null = null;
  private readonly appChannels = new Map<
    string,
    { channel: RTCDataChannel; held: Array<string | Uint8Array> }
  >();
  private readonly senders = new Map<MediaStreamTrack, RTCRtpSender>();
  /**
   * Remote tracks reported by `track`, by track id, until reported by `track-removed`. By id: @roamhq/wrtc
   * may hand out a new wrapper object for the same track, and fires `track` after the description's
   * promise settles rather than before.
   */
  private readonly receiving = new Map<string, { track: MediaStreamTrack; stream: MediaStream }>();
  private isConnected = false;
  private closed = false;
  private readonly MediaStream: typeof MediaStream | null;

  constructor(
    private readonly options: LinkOptions,
    wrtc: WebRtcImplementation,
  ) {
    super();
    this.initiator = options.initiator;
    const PeerConnection = wrtc.RTCPeerConnection as typeof RTCPeerConnection;
    this.MediaStream = (wrtc.MediaStream as typeof MediaStream | undefined) ?? null;
    this.pc = new PeerConnection(options.config);
    const pc = this.pc;
    this.negotiation = new Negotiation(
      pc,
      options.polite,
      {
        send: (s) => this.emitSignal(s),
        closed: () => this.closed,
        firstRemoteOffer: () => this.openSdkChannels(),
        negotiated: () => this.syncReceivers(),
      },
      options.initiator,
    );
    if (options.initiator) this.openSdkChannels();
    pc.addEventListener('icecandidateerror', (ev: Event) => {
      const e = ev as Event & { errorCode?: number; url?: string };
      if (!this.closed) this.emit('candidate-error', { code: e.errorCode ?? 0, url: e.url ?? '' });
    });
    pc.addEventListener('iceconnectionstatechange', () => {
      if (this.closed) return;
      const state = pc.iceConnectionState;
      this.emit('ice-state', state);
      if ((state === 'connected' || state === 'completed') && !options.sdkPeer) this.markConnected();
    });
    pc.addEventListener('track', (ev: RTCTrackEvent) => this.onTrack(ev));
    pc.addEventListener('datachannel', (ev: RTCDataChannelEvent) => this.adoptAppChannel(ev.channel));
  }

  get connected(): boolean {
    return this.isConnected && !this.closed;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  get localUfrag(): string | null {
    const sdp = this.pc.localDescription?.sdp;
    return sdp ? ufragOfSdp(sdp) : null;
  }

  signal(payload: SignalPayload): void {
    if (this.closed) return;
    if (payload.type === 'offer' || payload.type === 'answer') {
      this.remoteUfrag = ufragOfSdp(payload.sdp) ?? this.remoteUfrag;
      this.remoteSession = sessionOfSdp(payload.sdp) ?? this.remoteSession;
    }
    this.negotiation.receive(payload);
  }

  send(text: string): boolean {
    return this.sendOn(this.connected ? this.reliable : null, text);
  }

  sendUnreliable(text: string): boolean {
    return this.sendOn(this.unreliable, text);
  }

  sendApp(label: string, data: string | Uint8Array, reliable: boolean): boolean {
    if (this.closed) return false;
    let entry = this.appChannels.get(label);
    if (!entry) {
      const init: RTCDataChannelInit = reliable ? {} : { ordered: false, maxRetransmits: 0 };
      entry = this.adoptAppChannel(this.pc.createDataChannel(label, init));
    }
    if (entry.channel.readyState === 'open') return this.sendOn(entry.channel, data);
    if (entry.channel.readyState !== 'connecting' || entry.held.length >= MAX_HELD_APP_MESSAGES) return false;
    entry.held.push(data);
    return true;
  }

  addTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (this.closed || this.senders.has(track)) return;
    this.senders.set(track, this.pc.addTrack(track, stream));
  }

  removeTrack(track: MediaStreamTrack): void {
    const sender = this.senders.get(track);
    if (this.closed || !sender) return;
    this.senders.delete(track);
    this.pc.removeTrack(sender);
  }

  async replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<boolean> {
    const sender = this.senders.get(oldTrack);
    if (this.closed || !sender) return false;
    await sender.replaceTrack(newTrack);
    this.senders.delete(oldTrack);
    this.senders.set(newTrack, sender);
    return true;
  }

  restartIce(): void {
    if (!this.closed) this.negotiation.restartIce();
  }

  setConfiguration(config: RTCConfiguration): void {
    if (!this.closed) this.pc.setConfiguration(config);
  }

  getStats(): Promise<RTCStatsReport> | null {
    return this.closed ? null : this.pc.getStats();
  }

  destroy(): void {
    this.finish(undefined);
  }

  // ---- internals ----

  private emitSignal(signal: SignalPayload): void {
    if (!this.closed) this.emit('signal', signal);
  }

  private markConnected(): void {
    if (this.isConnected) return;
    this.isConnected = true;
    this.emit('connect', undefined);
  }

  /** The SDK's two negotiated channels, made on both sides with the same ids (no in-band announcement). */
  private openSdkChannels(): void {
    if (this.reliable || this.closed) return;
    const pc = this.pc;
    const reliable = pc.createDataChannel('~relay', { negotiated: true, id: RELIABLE_CHANNEL_ID });
    reliable.onmessage = (ev: MessageEvent) => {
      const text = asText(ev.data);
      if (text !== null && !this.closed) this.emit('data', text);
    };
    reliable.onopen = () => {
      if (this.options.sdkPeer) this.markConnected();
    };
    // Closes when the remote connection goes away (DTLS close or SCTP abort): this link is over.
    reliable.onclose = () => {
      if (this.isConnected) this.finish({ code: 'ERR_DATA_CHANNEL', message: 'reliable channel closed' });
    };
    this.reliable = reliable;
    try {
      const unreliable = pc.createDataChannel('~relay-unreliable', {
        negotiated: true,
        id: this.options.unreliableChannelId,
        ordered: false,
        maxRetransmits: 0,
      });
      unreliable.onmessage = (ev: MessageEvent) => {
        const text = asText(ev.data);
        if (text !== null && !this.closed) this.emit('unreliable', text);
      };
      this.unreliable = unreliable;
    } catch {
      // No unreliable channel on this platform: unreliable sends report false and callers fall back.
    }
  }

  private adoptAppChannel(channel: RTCDataChannel): {
    channel: RTCDataChannel;
    held: Array<string | Uint8Array>;
  } {
    channel.binaryType = 'arraybuffer';
    const entry = { channel, held: [] as Array<string | Uint8Array> };
    // A label starting with `~` is the SDK's own; an app never gets one (the room refuses to send on it).
    if (channel.label.startsWith('~')) return entry;
    this.appChannels.set(channel.label, entry);
    channel.onopen = () => {
      for (const data of entry.held.splice(0)) this.sendOn(channel, data);
    };
    channel.onmessage = (ev: MessageEvent) => {
      const data = asAppData(ev.data);
      if (data !== null && !this.closed)
        this.emit('app-data', { label: channel.label, data, reliable: isReliable(channel) });
    };
    channel.onclose = () => {
      if (this.appChannels.get(channel.label) === entry) this.appChannels.delete(channel.label);
    };
    return entry;
  }

  private onTrack(ev: RTCTrackEvent): void {
    if (this.receiving.has(ev.track.id)) return;
    const stream = ev.streams[0] ?? this.streamFor(ev.track);
    if (stream) this.report(ev.track, stream);
  }

  private report(track: MediaStreamTrack, stream: MediaStream): void {
    if (this.closed) return;
    this.receiving.set(track.id, { track, stream });
    this.emit('track', { track, stream });
  }

  /**
   * After each completed negotiation (directions are current only then): a transceiver that receives now and was not reported is reported
   * (@roamhq/wrtc fires no `track` when an answer turns an offered transceiver to receive), and one
   * that stopped receiving (the remote removed its track, JSEP RFC 8829 §5.3.1 direction) is reported
   * removed. Browsers fire `track` first, so nothing is reported twice.
   */
  private syncReceivers(): void {
    for (const t of this.pc.getTransceivers()) {
      const track = t.receiver.track;
      const direction = t.currentDirection;
      const receives = direction === 'sendrecv' || direction === 'recvonly';
      const known = this.receiving.get(track.id);
      if (receives && !known) {
        const own = this.streamFor(track);
        if (own) this.report(track, own);
      } else if (!receives && known && direction !== null) {
        this.receiving.delete(track.id);
        this.emit('track-removed', known);
      }
    }
  }

  /** A track sent without a stream (a plain peer may do so): give it one of its own. */
  private streamFor(track: MediaStreamTrack): MediaStream | null {
    const Stream = this.MediaStream ?? (globalThis as { MediaStream?: typeof MediaStream }).MediaStream;
    return Stream ? new Stream([track]) : null;
  }

  private sendOn(channel: RTCDataChannel | null, data: string | Uint8Array): boolean {
    if (this.closed || channel?.readyState !== 'open') return false;
    try {
      if (typeof data === 'string') channel.send(data);
      else channel.send(data as Uint8Array<ArrayBuffer>);
      return true;
    } catch {
      return false;
    }
  }

  private finish(error: { code: string; message: string } | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.isConnected = false;
    for (const ch of [
      this.reliable,
      this.unreliable,
      ...[...this.appChannels.values()].map((e) => e.channel),
    ]) {
      try {
        ch?.close();
      } catch {
        /* already closed */
      }
    }
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
    this.emit('close', error ? { error } : {});
    this.removeAllListeners();
  }
}

export function createRtcLink(options: LinkOptions, wrtc: WebRtcImplementation): Link {
  return new RtcLink(options, wrtc);
}
