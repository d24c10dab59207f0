/**
 * One WebRTC connection to one remote peer, as the rest of the SDK sees it. The only implementation is
 * `simple-peer-adapter.ts`; nothing else knows simple-peer exists.
 */
import type { TypedEmitter } from '../events/typed-emitter.js';
import type { SignalPayload } from '../../signaling/protocol/index.js';

export interface LinkEvents {
  /** A signal for the remote peer's link (offer/answer/candidate/renegotiate/transceiverRequest). */
  signal: SignalPayload;
  /** The reliable data channel is open and ICE connected. */
  connect: undefined;
  /** Text from the reliable channel. */
  data: string;
  /** Text from the unreliable channel. */
  unreliable: string;
  track: { track: MediaStreamTrack; stream: MediaStream };
  'ice-state': RTCIceConnectionState;
  /** A STUN or TURN server failed during gathering (`icecandidateerror`): its error code, or 701. */
  'candidate-error': { code: number; url: string };
  /** The link is gone for good; `error` says why when it was not a local destroy(). */
  close: { error?: { code: string; message: string } };
}

export interface LinkOptions {
  initiator: boolean;
  config: RTCConfiguration;
  streams: MediaStream[];
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
  addTrack(track: MediaStreamTrack, stream: MediaStream): void;
  removeTrack(track: MediaStreamTrack, stream: MediaStream): void;
  /**
   * Replace the ICE configuration. libwebrtc marks the connection for an ICE restart when the ICE servers
   * change, so the next offer restarts ICE: call it only when a restart is wanted.
   */
  setConfiguration(config: RTCConfiguration): void;
  getStats(): Promise<RTCStatsReport> | null;
  destroy(): void;
}

export type LinkFactory = (options: LinkOptions) => Link;
