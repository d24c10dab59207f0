/**
 * The one file that imports simple-peer: a `Link` on top of a simple-peer 9 instance.
 *
 * Why simple-peer 9.11.1 and not @thaunknown/simple-peer 10: version 10 depends on node-datachannel,
 * whose install builds native code with cmake and fails on our machines; 9.11.1 is pure JS and takes the
 * WebRTC implementation as an option (`wrtc`), so Node (@roamhq/wrtc) and browsers share it.
 *
 * What 9.x lacks and the SDK adds around this file: ICE restart (feross/simple-peer#579: the instance
 * destroys itself when ICE fails, and cannot restart ICE), so `peer-session.ts` replaces the whole link;
 * and a second, unreliable data channel (`ordered: false, maxRetransmits: 0`), created here on the
 * underlying RTCPeerConnection as a negotiated channel with a fixed id on both sides, so it needs no
 * in-band announcement. simple-peer's private `_pc` is read in this file only.
 */
import SimplePeer from 'simple-peer';
import { TypedEmitter } from '../events/typed-emitter.js';
import type { SignalPayload } from '../../signaling/protocol/index.js';
import type { WebRtcImplementation } from '../platform/platform.js';
import type { Link, LinkEvents, LinkOptions } from './link.js';
import { sessionOfSdp, ufragOfSdp } from './signal-router.js';

const decoder = new TextDecoder();

function asText(data: unknown): string | null {
  if (typeof data === 'string') return data;
  if (data instanceof Uint8Array) return decoder.decode(data);
  if (data instanceof ArrayBuffer) return decoder.decode(new Uint8Array(data));
  return null;
}

class SimplePeerLink extends TypedEmitter<LinkEvents> implements Link {
  readonly initiator: boolean;
  remoteUfrag: string | null = null;
  remoteSession: string | null = null;
  private readonly peer: SimplePeer.Instance;
  private readonly pc: RTCPeerConnection | null;
  private unreliable: RTCDataChannel | null = null;
  private isConnected = false;
  private closed = false;

  constructor(options: LinkOptions, wrtc: WebRtcImplementation) {
    super();
    this.initiator = options.initiator;
    this.peer = new SimplePeer({
      initiator: options.initiator,
      wrtc: wrtc as SimplePeer.Options['wrtc'],
      trickle: true,
      config: options.config,
      streams: options.streams,
    });
    this.pc = (this.peer as unknown as { _pc?: RTCPeerConnection })._pc ?? null;
    this.openUnreliableChannel(options.unreliableChannelId);
    this.pc?.addEventListener('icecandidateerror', (ev: Event) => {
      const e = ev as Event & { errorCode?: number; url?: string };
      if (!this.closed) this.emit('candidate-error', { code: e.errorCode ?? 0, url: e.url ?? '' });
    });

    this.peer.on('signal', (signal: SimplePeer.SignalData) => this.emit('signal', signal as SignalPayload));
    this.peer.on('connect', () => {
      this.isConnected = true;
      this.emit('connect', undefined);
    });
    this.peer.on('data', (data: unknown) => {
      const text = asText(data);
      if (text !== null) this.emit('data', text);
    });
    this.peer.on('track', (track: MediaStreamTrack, stream: MediaStream) =>
      this.emit('track', { track, stream }),
    );
    this.peer.on('iceStateChange', (state: RTCIceConnectionState) => this.emit('ice-state', state));
    // simple-peer emits 'error' before 'close'; an unhandled 'error' would throw.
    let failure: { code: string; message: string } | undefined;
    this.peer.on('error', (err: Error & { code?: string }) => {
      failure = { code: err.code ?? 'ERR_UNKNOWN', message: err.message };
    });
    this.peer.on('close', () => this.finish(failure));
  }

  get connected(): boolean {
    return this.isConnected && !this.closed;
  }

  get destroyed(): boolean {
    return this.closed;
  }

  get localUfrag(): string | null {
    const sdp = this.pc?.localDescription?.sdp;
    return sdp ? ufragOfSdp(sdp) : null;
  }

  signal(payload: SignalPayload): void {
    if (this.closed) return;
    if ((payload.type === 'offer' || payload.type === 'answer') && payload.sdp) {
      this.remoteUfrag = ufragOfSdp(payload.sdp) ?? this.remoteUfrag;
      this.remoteSession = sessionOfSdp(payload.sdp) ?? this.remoteSession;
    }
    try {
      this.peer.signal(payload as SimplePeer.SignalData);
    } catch {
      // Only thrown after destroy; the close event reports it.
    }
  }

  send(text: string): boolean {
    if (!this.connected) return false;
    try {
      this.peer.send(text);
      return true;
    } catch {
      return false;
    }
  }

  sendUnreliable(text: string): boolean {
    if (this.closed || this.unreliable?.readyState !== 'open') return false;
    try {
      this.unreliable.send(text);
      return true;
    } catch {
      return false;
    }
  }

  addTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (!this.closed) this.peer.addTrack(track, stream);
  }

  removeTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (!this.closed) this.peer.removeTrack(track, stream);
  }

  setConfiguration(config: RTCConfiguration): void {
    if (!this.closed) this.pc?.setConfiguration(config);
  }

  getStats(): Promise<RTCStatsReport> | null {
    return this.closed || !this.pc ? null : this.pc.getStats();
  }

  destroy(): void {
    if (this.closed) return;
    this.peer.destroy();
    this.finish(undefined);
  }

  private openUnreliableChannel(id: number): void {
    if (!this.pc) return;
    try {
      const channel = this.pc.createDataChannel('relay-unreliable', {
        negotiated: true,
        id,
        ordered: false,
        maxRetransmits: 0,
      });
      channel.onmessage = (ev: MessageEvent) => {
        const text = asText(ev.data);
        if (text !== null && !this.closed) this.emit('unreliable', text);
      };
      this.unreliable = channel;
    } catch {
      // No unreliable channel on this platform: unreliable sends report false and callers fall back.
      this.unreliable = null;
    }
  }

  private finish(error: { code: string; message: string } | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.isConnected = false;
    try {
      this.unreliable?.close();
    } catch {
      /* already closed */
    }
    this.emit('close', error ? { error } : {});
    this.removeAllListeners();
  }
}

export function createSimplePeerLink(options: LinkOptions, wrtc: WebRtcImplementation): Link {
  return new SimplePeerLink(options, wrtc);
}
