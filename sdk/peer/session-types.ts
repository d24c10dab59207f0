/**
 * The contract between the room and a PeerSession: what a session needs (SessionEnv, SessionTuning) and
 * what it tells (SessionEvents). Inputs are asked for, outputs are events: nothing calls back and forth.
 */
import type { ClientMessage } from '../../signaling/protocol/light/index.js';
import type { Clock } from '../clock.js';
import type { AppData } from '../data/frames.js';
import type { Link } from './link.js';
import type { ConnectionQuality } from './link-stats.js';
import type { P2pFailureReason } from './p2p-diagnosis.js';

export type Path = 'connecting' | 'direct' | 'relay' | 'websocket';

export interface SessionTuning {
  p2pConnectTimeoutMs: number;
  iceRetryIntervalMs: number;
  iceDisconnectedGraceMs: number;
  ackDelayMs: number;
  retransmitMs: number;
  maxUnackedMessages: number;
  maxHeldMessages: number;
  maxQueuedSignals: number;
  /** ms a peer that does not run this SDK gets to make the first offer before we make one. */
  plainPeerOfferDelayMs: number;
  /** ICE restarts tried on a link before it is replaced. */
  iceRestartAttempts: number;
}

export interface LinkEvent {
  peerId: string;
  /** `restarting`: ICE restarts on the same link (tracks and channels stay); `failed`: it is replaced. */
  kind: 'created' | 'connected' | 'restarting' | 'failed';
  initiator: boolean;
  reason: string;
}

/** What a session needs from its room: inputs only. What happens to the pair, it emits (SessionEvents). */
export interface SessionEnv {
  readonly clock: Clock;
  readonly tuning: SessionTuning;
  localPeerId(): string;
  /** The signaling connection, shared by every session of the room. */
  readonly signaling: { open(): boolean; send(message: ClientMessage): boolean };
  /** The room's pace for fallback `data` frames (one budget for every pair). */
  readonly fallbackGate: { tryTake(): boolean; waitMs(): number };
  /** A new link, carrying what the room publishes, made with `iceConfiguration()`. */
  createLink(options: { initiator: boolean; polite: boolean; sdkPeer: boolean }): Link;
  /** The ICE configuration new links are made with. */
  iceConfiguration(): RTCConfiguration;
}

type RemoteTrack = { peerId: string; track: MediaStreamTrack; stream: MediaStream };

export interface SessionEvents {
  data: { from: string; channel: string | undefined; data: AppData; reliable: boolean };
  track: RemoteTrack;
  /** A remote track's link went away (replaced or closed); a replacement link delivers it anew. */
  'track-ended': RemoteTrack;
  /** The remote stopped sending a track (it unpublished it); the link stays. */
  'track-removed': RemoteTrack;
  path: { peerId: string; path: Path; rttMs: number | undefined };
  quality: { peerId: string; quality: ConnectionQuality };
  link: LinkEvent;
  /** Why this pair cannot go P2P (after a failed attempt), or null once a link connects. */
  'p2p-failure': { peerId: string; reason: P2pFailureReason | null };
}
