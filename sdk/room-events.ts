/** What a Room tells and takes: its typed events, the peer view it hands out, and send options. */
import type { IceServer } from '../signaling/protocol/light/index.js';
import type { AppData } from './data/frames.js';
import type { P2pFailureReason, SdkError } from './errors.js';
import type { ConnectionQuality, LinkStats } from './peer/link-stats.js';
import type { PeerLeftReason } from './peer/roster.js';
import type { LinkEvent, Path } from './peer/session-types.js';
import type { JoinKind, SignalingState } from './signaling/signaling-client.js';

export type MemberMeta = Record<string, string | number | boolean>;

export interface RemotePeer {
  peerId: string;
  userId: string;
  meta: MemberMeta;
  path: Path;
  rttMs: number | undefined;
  /** Why the pair cannot go direct or relayed (its data takes signaling); null while a link is up. */
  p2pFailure: P2pFailureReason | null;
  /** good / poor (loss above `DEFAULTS.poorLossPercent` or RTT above `poorRttMs`) / lost (no link up). */
  quality: ConnectionQuality;
}

/** One pair in numbers (`room.getPeerStats`), from the latest stats poll of its live link. */
export interface PeerStats extends Partial<Omit<LinkStats, 'path' | 'quality'>> {
  path: Path;
  quality: ConnectionQuality;
}

export interface RoomEvents {
  'peer-joined': { peer: RemotePeer };
  /** A member replaced its metadata (`updateMetadata`). */
  'peer-updated': { peer: RemotePeer };
  'peer-left': { peerId: string; reason: PeerLeftReason };
  /** A peer joined afresh under a new id (after a signaling restart) and kept its link with us. */
  'peer-rejoined': { peerId: string; previousPeerId: string };
  /** A remote media track arrived (again after a link replacement). */
  track: { peerId: string; track: MediaStreamTrack; stream: MediaStream };
  /** The link that carried a remote track was replaced or closed (the peer left, or the room closed). */
  'track-ended': { peerId: string; track: MediaStreamTrack; stream: MediaStream };
  /** The peer stopped sending a track (it unpublished it); its link stays. */
  'track-removed': { peerId: string; track: MediaStreamTrack; stream: MediaStream };
  data: { from: string; channel: string | undefined; data: AppData; reliable: boolean };
  /** Signaling connection state. */
  'connection-state': { state: SignalingState };
  /** A peer's connection quality changed (good / poor / lost). */
  quality: { peerId: string; quality: ConnectionQuality };
  /** The path a peer's data takes changed, or its RTT did. */
  path: { peerId: string; path: Path; rttMs: number | undefined };
  /**
   * A pair could go neither direct nor relayed: one reason from `P2P_FAILURE_REASONS`, with its sentence.
   * Data keeps flowing through signaling and links keep being tried; `path` reports when one connects.
   */
  'p2p-failed': { peerId: string; reason: P2pFailureReason; message: string };
  /** A peer link was created, connected or failed (and is being replaced). */
  link: LinkEvent;
  reconnecting: { attempt: number; delayMs: number };
  /** Signaling is back: with the same peer id (`resumed`) or a new one (`rejoined`). */
  resumed: { kind: Exclude<JoinKind, 'initial'>; peerId: string; previousPeerId: string | null };
  /** Fresh ICE servers (TURN credentials) arrived: every new link uses them; live links keep theirs. */
  'ice-servers': { iceServers: IceServer[]; expiresAt: number };
  error: { error: SdkError };
  /** Terminal. */
  closed: { error?: SdkError };
}

export interface SendOptions {
  /** Peer id; omitted sends to every peer. */
  to?: string;
  /** App channel label (not starting with `~`). */
  channel?: string;
  /** Reliable (default): exactly once, in order per pair, across path switches. Unreliable may drop. */
  reliable?: boolean;
}
