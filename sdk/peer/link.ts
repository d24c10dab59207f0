/**
 * One WebRTC connection to one remote peer, as the rest of the SDK sees it. The implementation is
 * `rtc-link.ts` (the platform's RTCPeerConnection with perfect negotiation); tests may pass their own.
 */
import type { TypedEmitter } from '../events/typed-emitter.js';
import type { SignalPayload } from '../../signaling/protocol/light/index.js';

export interface LinkEvents {
  /** A signal for the remote peer's link (offer, answer or candidate). */
  signal: SignalPayload;
  /** The reliable data channel is open and ICE connected. */
  connect: undefined;
  /** Text from the reliable channel. */
  data: string;
  /** Text from the unreliable channel. */
  unreliable: string;
  /** Data on an application channel (any label not starting with `~`), exactly as the remote sent it. */
  'app-data': { label: string; data: string | Uint8Array; reliable: boolean };
  track: { track: MediaStreamTrack; stream: MediaStream };
  /** The remote stopped sending a track (it removed it); the link stays. */
  'track-removed': { track: MediaStreamTrack; stream: MediaStream };
  'ice-state': RTCIceConnectionState;
  /** A STUN or TURN server failed during gathering (`icecandidateerror`): its error code, or 701. */
  'candidate-error': { code: number; url: string };
  /** The link is gone for good; `error` says why when it was not a local destroy(). */
  close: { error?: { code: string; message: string } };
}

export interface LinkOptions {
  /** This side makes the first offer (the other waits for it before offering anything itself). */
  initiator: boolean;
  /** This side yields when offers cross (perfect negotiation's polite peer). */
  polite: boolean;
  /** The remote runs this SDK: the link is up once the SDK's reliable channel opens (else once ICE is). */
  sdkPeer: boolean;
  config: RTCConfiguration;
  unreliableChannelId: number;
}

export interface Link extends Pick<TypedEmitter<LinkEvents>, 'on' | 'off' | 'once'> {
  readonly initiator: boolean;
  readonly connected: boolean;
  readonly destroyed: boolean;
  /** ICE username fragment of the remote description this link has been given (null before one). */
  readonly remoteUfrag: string | null;
  /** Session id (`o=` line) of the remote description this link has been given (null before one). */
  readonly remoteSession: string | null;
  /** ICE username fragment of this link's own local description (null before one). */
  readonly localUfrag: string | null;
  signal(payload: SignalPayload): void;
  /** Send on the reliable channel; false if it is not open. */
  send(text: string): boolean;
  /** Send on the unreliable channel; false if it is not open. */
  sendUnreliable(text: string): boolean;
  /** Send as is on the application channel `label` (opened in-band if neither side has yet). */
  sendApp(label: string, data: string | Uint8Array, reliable: boolean): boolean;
  addTrack(track: MediaStreamTrack, stream: MediaStream): void;
  removeTrack(track: MediaStreamTrack, stream: MediaStream): void;
  /** Send `newTrack` where `oldTrack` went, without renegotiating; false if `oldTrack` is not sent here. */
  replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<boolean>;
  /** Restart ICE on this connection (RFC 8445 §9): new candidates, same DTLS, tracks and channels. */
  restartIce(): void;
  /**
   * Replace the ICE configuration. libwebrtc marks the connection for an ICE restart when the ICE servers
   * change, so the next offer restarts ICE: call it only when a restart is wanted.
   */
  setConfiguration(config: RTCConfiguration): void;
  getStats(): Promise<RTCStatsReport> | null;
  destroy(): void;
}

export type LinkFactory = (options: LinkOptions) => Link;
