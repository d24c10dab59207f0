/**
 * A joined room: the signaling client, one PeerSession per remote peer (a mesh), the published media,
 * and the typed events apps listen to. Server messages are dispatched in one exhaustive switch.
 */
import {
  assertNever,
  type IceServer,
  type Member,
  type ServerMessage,
  type ServerMessageOf,
} from '../signaling/protocol/light/index.js';
import type { Clock, TimerHandle } from './clock.js';
import { DEFAULTS } from './defaults.js';
import { P2P_FAILURE_REASONS, SdkError, type P2pFailureReason } from './errors.js';
import { TypedEmitter } from './events/typed-emitter.js';
import {
  decodePayload,
  encodePayload,
  fromSignalingData,
  isReservedChannel,
  type AppData,
} from './data/frames.js';
import { RateGate } from './data/rate-gate.js';
import { PublishedTracks } from './media/published-tracks.js';
import type { Link } from './peer/link.js';
import {
  PeerSession,
  type LinkEvent,
  type Path,
  type SessionHost,
  type SessionTuning,
} from './peer/peer-session.js';
import type { LinkOptions } from './peer/link.js';
import { createRtcLink } from './peer/rtc-link.js';
import type { ConnectionQuality, LinkStats } from './peer/link-stats.js';
import type { Platform } from './platform/platform.js';
import {
  SignalingClient,
  type JoinKind,
  type SignalingState,
  type Welcome,
} from './signaling/signaling-client.js';

export type { Path, LinkEvent, SignalingState, JoinKind, AppData, P2pFailureReason };
export type MemberMeta = Record<string, string | number | boolean>;
export type PeerLeftReason = ServerMessageOf<'peer-left'>['reason'];

/** Meta key carrying the SDK instance id, so a peer that rejoined under a new id keeps its link. */
export const INSTANCE_META_KEY = '~sdk';

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

export interface RoomConfig {
  url: string;
  token: string;
  room: string;
  getToken: (() => Promise<string>) | undefined;
  meta: MemberMeta;
  platform: Platform;
  clock: Clock;
  signaling: Omit<
    ConstructorParameters<typeof SignalingClient>[0],
    'url' | 'token' | 'getToken' | 'room' | 'meta' | 'platform' | 'clock'
  >;
  tuning: SessionTuning;
  iceServers: IceServer[] | undefined;
  iceTransportPolicy: RTCIceTransportPolicy;
  statsIntervalMs: number;
  turnRefreshMarginMs: number;
  orphanGraceMs: number;
  fallbackRatePerSecond: number;
  fallbackBurst: number;
  unreliableChannelId: number;
  frameOverheadBytes: number;
  linkFactory: ((options: LinkOptions) => Link) | undefined;
}

/** How long close() waits for the server's `left` before tearing down anyway. */
const LEAVE_TIMEOUT_MS = DEFAULTS.leaveTimeoutMs;

const randomId = () =>
  Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');

export class Room extends TypedEmitter<RoomEvents> {
  readonly name: string;
  /** This SDK instance, stable across peer id changes. */
  readonly instanceId = randomId();
  private readonly signaling: SignalingClient;
  private readonly sessions = new Map<string, PeerSession>();
  private readonly published = new PublishedTracks();
  private readonly gate: RateGate;
  private readonly host: SessionHost;
  private welcome: Welcome | null = null;
  private iceServers: IceServer[] = [];
  private iceTransportPolicy: RTCIceTransportPolicy;
  private statsTimer: TimerHandle | null = null;
  private turnTimer: TimerHandle | null = null;
  private closedFlag = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly config: RoomConfig) {
    super();
    this.name = config.room;
    this.iceTransportPolicy = config.iceTransportPolicy;
    const before = Math.min(config.fallbackRatePerSecond, DEFAULTS.fallbackRatePerSecond);
    this.gate = new RateGate(before, config.fallbackBurst, config.clock);
    this.signaling = new SignalingClient({
      ...config.signaling,
      url: config.url,
      token: config.token,
      getToken: config.getToken,
      room: config.room,
      meta: { ...config.meta, [INSTANCE_META_KEY]: this.instanceId },
      platform: config.platform,
      clock: config.clock,
    });
    this.signaling.on('joined', (e) => this.onJoined(e.welcome, e.kind, e.previousPeerId));
    this.signaling.on('message', (m) => this.onMessage(m));
    this.signaling.on('state', (state) => this.emit('connection-state', { state }));
    this.signaling.on('token-refresh-failed', (e) => this.emit('error', e));
    this.signaling.on('reconnecting', ({ attempt, delayMs }) =>
      this.emit('reconnecting', { attempt, delayMs }),
    );
    this.signaling.on('closed', (e) => {
      if (e.error) this.emit('error', { error: e.error });
      this.shutdown(e.error);
    });
    this.host = this.makeHost();
  }

  /** First join; rejects with a typed error (and closes) when it fails. */
  async start(): Promise<void> {
    try {
      await this.signaling.start();
    } catch (err) {
      this.shutdown(err instanceof SdkError ? err : undefined);
      throw err;
    }
  }

  get peerId(): string {
    return this.welcome?.peerId ?? '';
  }

  get state(): SignalingState {
    return this.signaling.state;
  }

  /** Server limits from the welcome (message size, rate, room size, resume window). */
  get limits(): Welcome['limits'] | null {
    return this.welcome?.limits ?? null;
  }

  peers(): RemotePeer[] {
    return [...this.sessions.values()].map((s) => describe(s));
  }

  peer(peerId: string): RemotePeer | undefined {
    const s = this.sessions.get(peerId);
    return s ? describe(s) : undefined;
  }

  /**
   * Send to one peer or all. Reliable sends never drop (they wait for a path); unreliable sends return
   * how many peers it went out to. Payloads above the fallback frame limit throw `payload_too_large`.
   */
  send(data: AppData | ArrayBuffer, options: SendOptions = {}): number {
    if (this.closedFlag) throw new SdkError('room_closed');
    if (isReservedChannel(options.channel)) throw new SdkError('reserved_channel');
    const payload = encodePayload(data, options.channel);
    const max = this.limits!.maxMessageBytes - this.config.frameOverheadBytes; // welcomed before resolving
    if (utf8Length(payload.payload) > max)
      throw new SdkError('payload_too_large', `payload over ${max} bytes`);
    const targets = this.targets(options.to);
    const reliable = options.reliable ?? true;
    let sent = 0;
    for (const s of targets) {
      if (reliable) {
        s.sendReliable(payload);
        sent++;
      } else if (s.sendUnreliable(payload)) sent++;
    }
    return sent;
  }

  /**
   * The WebRTC stats of the live link to `peerId` (its selected candidate pair, RTT, media), or null
   * while no link is up (the pair's data then takes signaling).
   */
  getStats(peerId: string): Promise<RTCStatsReport | null> {
    const s = this.sessions.get(peerId);
    if (!s) return Promise.reject(new SdkError('unknown_peer', undefined, { peerId }));
    return s.getStats();
  }

  /**
   * A summary of the pair with `peerId`: path, RTT, candidate types, bitrate each way, received loss and
   * quality, as of the latest stats poll (`statsIntervalMs`); rates need two polls of the same link.
   */
  getPeerStats(peerId: string): PeerStats {
    const s = this.sessions.get(peerId);
    if (!s) throw new SdkError('unknown_peer', undefined, { peerId });
    const { path: _path, quality: _quality, ...numbers } = s.linkStats ?? {};
    return { ...numbers, path: s.path, quality: s.quality };
  }

  /** Publish every track of `stream` to every peer, now and on future links. */
  publish(stream: MediaStream): void {
    for (const track of stream.getTracks()) this.publishTrack(track, stream);
  }

  unpublish(stream: MediaStream): void {
    for (const { track } of this.published.ofStream(stream)) this.unpublishTrack(track, stream);
  }

  /** Add one track mid-call (e.g. screen share): each link renegotiates without dropping. */
  publishTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (!this.published.add(track, stream)) return;
    for (const s of this.sessions.values()) s.addTrack(track, stream);
  }

  unpublishTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (!this.published.remove(track, stream)) return;
    for (const s of this.sessions.values()) s.removeTrack(track, stream);
  }

  /**
   * Send `newTrack` wherever `oldTrack` was published (another camera or microphone), without
   * renegotiating: the peers keep receiving on the same remote track. Future links get `newTrack`.
   */
  async replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<void> {
    if (!this.published.replace(oldTrack, newTrack)) throw new SdkError('unknown_track');
    await Promise.all([...this.sessions.values()].map((s) => s.replaceTrack(oldTrack, newTrack)));
  }

  /**
   * Change ICE servers or transport policy: used for every new link, and applied to live links, which
   * restart ICE at their next negotiation (the app asked for it); pairs without a link up try a fresh one
   * at once.
   */
  updateIceConfiguration(update: {
    iceServers?: IceServer[];
    iceTransportPolicy?: RTCIceTransportPolicy;
  }): void {
    if (update.iceServers) this.config.iceServers = update.iceServers;
    if (update.iceTransportPolicy) this.iceTransportPolicy = update.iceTransportPolicy;
    const rtc = this.rtcConfiguration();
    for (const s of this.sessions.values()) s.applyIceConfiguration(rtc);
  }

  /** Ask signaling for fresh TURN credentials now (normally automatic before they expire). */
  refreshIceServers(): boolean {
    return this.signaling.send({ type: 'turn-credentials', id: this.signaling.requestId() });
  }

  /** Testing and diagnostics: drop the signaling socket as a network failure would. */
  dropSignalingConnection(): void {
    this.signaling.dropConnection();
  }

  /**
   * Leave the room and release every socket, link and timer. Idempotent. Waits briefly for the server to
   * confirm the leave, so the others hear `peer-left` before our links go down.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.closedFlag) await this.signaling.leave(LEAVE_TIMEOUT_MS);
      this.shutdown(undefined);
    })();
    return this.closing;
  }

  // ---- internals ----

  private shutdown(error: SdkError | undefined): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.signaling.close();
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    if (this.statsTimer !== null) this.config.clock.clearTimeout(this.statsTimer);
    if (this.turnTimer !== null) this.config.clock.clearTimeout(this.turnTimer);
    this.emit('closed', error ? { error } : {});
    this.removeAllListeners();
  }

  private targets(to: string | undefined): PeerSession[] {
    // Every peer, also one waiting to rejoin under a new id: its reliable messages wait for it (or for it
    // to be declared gone), as a reliable send promises.
    if (to === undefined) return [...this.sessions.values()];
    const s = this.sessions.get(to);
    if (!s) throw new SdkError('unknown_peer', undefined, { peerId: to });
    return [s];
  }

  private rtcConfiguration(): RTCConfiguration {
    return {
      iceServers: (this.config.iceServers ?? this.iceServers).map(toRtcIceServer),
      iceTransportPolicy: this.iceTransportPolicy,
    };
  }

  private makeHost(): SessionHost {
    const { clock, tuning, platform } = this.config;
    return {
      clock,
      tuning,
      localPeerId: () => this.peerId,
      signalingOpen: () => this.signaling.state === 'connected',
      sendSignaling: (m) => this.signaling.send(m),
      takeFallbackToken: () => this.gate.tryTake(),
      fallbackWaitMs: () => this.gate.waitMs(),
      iceConfiguration: () => this.rtcConfiguration(),
      onP2pFailure: ({ peerId, reason }) => {
        if (reason) this.emit('p2p-failed', { peerId, reason, message: P2P_FAILURE_REASONS[reason] });
      },
      createLink: (roles) => {
        const options: LinkOptions = {
          ...roles,
          config: this.rtcConfiguration(),
          unreliableChannelId: this.config.unreliableChannelId,
        };
        const link = (this.config.linkFactory ?? ((o) => createRtcLink(o, platform.wrtc)))(options);
        for (const { track, stream } of this.published.all()) link.addTrack(track, stream);
        return link;
      },
      deliver: (e) => this.emit('data', e),
      onTrack: (e) => this.emit('track', e),
      onTrackEnded: (e) => this.emit('track-ended', e),
      onTrackRemoved: (e) => this.emit('track-removed', e),
      onPath: (e) => this.emit('path', e),
      onQuality: (e) => this.emit('quality', e),
      onLinkEvent: (e) => {
        this.emit('link', e);
        if (e.kind === 'failed') {
          this.emit('error', { error: new SdkError('peer_link_failed', e.reason, { peerId: e.peerId }) });
        }
      },
    };
  }

  private onJoined(welcome: Welcome, kind: JoinKind, previousPeerId: string | null): void {
    if (this.closedFlag) return;
    this.welcome = welcome;
    // Pace the WebSocket fallback by what this server allows, not a number of our own.
    const share = welcome.limits.ratePerSecond * DEFAULTS.fallbackShareOfServerRate;
    this.gate.setRate(Math.min(this.config.fallbackRatePerSecond, share));
    this.applyIceServers(welcome.iceServers, welcome.iceServersExpireAt, kind !== 'initial');
    if (kind === 'initial') {
      for (const m of welcome.members) this.addPeer(m);
      this.startStats();
      return;
    }
    const present = new Set<string>();
    for (const m of welcome.members) present.add(this.addPeer(m).peerId);
    for (const s of [...this.sessions.values()]) {
      if (present.has(s.peerId)) continue;
      if (kind === 'resumed') {
        // The server forgot this peer while we were away; it left.
        this.removePeer(s.peerId, 'disconnected');
      } else {
        this.orphan(s);
      }
    }
    for (const s of this.sessions.values()) s.signalingRestored();
    this.emit('resumed', { kind, peerId: welcome.peerId, previousPeerId });
  }

  /** After a fresh rejoin, a peer not (yet) back keeps its link for a while, waiting to be re-keyed. */
  private orphan(s: PeerSession): void {
    if (s.orphanTimer !== null) return;
    s.orphanTimer = this.config.clock.setTimeout(() => {
      s.orphanTimer = null;
      if (this.sessions.get(s.peerId) === s && !this.isMemberNow(s)) this.removePeer(s.peerId, 'timeout');
    }, this.config.orphanGraceMs);
  }

  private isMemberNow(s: PeerSession): boolean {
    return this.welcome?.members.some((m) => m.peerId === s.peerId) ?? false;
  }

  /** A member from a welcome or peer-joined: a known instance is re-keyed, an unknown one gets a session. */
  private addPeer(member: Member): PeerSession {
    const existing = this.sessions.get(member.peerId);
    if (existing) return existing;
    const instanceId =
      typeof member.meta?.[INSTANCE_META_KEY] === 'string' ? member.meta[INSTANCE_META_KEY] : null;
    const known = instanceId
      ? [...this.sessions.values()].find((s) => s.instanceId === instanceId)
      : undefined;
    if (known) {
      const previousPeerId = known.peerId;
      this.sessions.delete(previousPeerId);
      if (known.orphanTimer !== null) this.config.clock.clearTimeout(known.orphanTimer);
      known.orphanTimer = null;
      this.sessions.set(member.peerId, known);
      known.rekey(member.peerId, member);
      this.emit('peer-rejoined', { peerId: member.peerId, previousPeerId });
      return known;
    }
    const session = new PeerSession(this.host, member.peerId, member, instanceId);
    this.sessions.set(member.peerId, session);
    this.emit('peer-joined', { peer: describe(session) });
    return session;
  }

  private removePeer(peerId: string, reason: PeerLeftReason): void {
    const s = this.sessions.get(peerId);
    if (!s) return;
    this.sessions.delete(peerId);
    s.close();
    this.emit('peer-left', { peerId, reason });
  }

  private onMessage(message: ServerMessage): void {
    if (this.closedFlag) return;
    switch (message.type) {
      case 'peer-joined': {
        const wasOrphanOrNew = !this.sessions.has(message.peer.peerId);
        if (wasOrphanOrNew) this.addPeer(message.peer);
        if (this.welcome && !this.welcome.members.some((m) => m.peerId === message.peer.peerId)) {
          this.welcome.members.push(message.peer);
        }
        return;
      }
      case 'peer-left':
        if (this.welcome)
          this.welcome.members = this.welcome.members.filter((m) => m.peerId !== message.peerId);
        this.removePeer(message.peerId, message.reason);
        return;
      case 'signal':
        this.sessions.get(message.from)?.receiveSignal(message.signal);
        return;
      case 'data': {
        const frame = fromSignalingData(message);
        if (!frame) return;
        const session = this.sessions.get(message.from);
        if (session) session.receiveFrame(frame);
        else if (frame.kind === 'unreliable' && !isReservedChannel(frame.channel)) {
          // From a client that is not this SDK (or not yet known): plain unreliable data.
          this.emit('data', {
            from: message.from,
            channel: frame.channel,
            data: decodePayload(frame),
            reliable: false,
          });
        }
        return;
      }
      case 'turn-credentials':
        this.applyIceServers(message.iceServers, message.iceServersExpireAt, true);
        return;
      case 'error':
        this.emit('error', { error: new SdkError(message.code, message.message) });
        return;
      case 'welcome':
      case 'left':
      case 'pong':
      case 'reconnect':
      case 'token-refreshed':
        return; // handled by the signaling client
      default:
        assertNever(message);
    }
  }

  /**
   * Fresh ICE servers (TURN credentials) are kept for the links made from now on and never applied to live
   * links: changing a live RTCPeerConnection's ICE servers makes its next offer an ICE restart (libwebrtc
   * sets its needs-ice-restart flag), which nobody asked for. A live link's allocations keep refreshing
   * with the credentials they were made with (RFC 8656 §7: the relay checks the credential's integrity,
   * and coturn's REST API mode, like the bundled relay, accepts a refresh past its expiry).
   */
  private applyIceServers(iceServers: IceServer[], expiresAt: number, announce: boolean): void {
    this.iceServers = iceServers;
    if (announce) this.emit('ice-servers', { iceServers, expiresAt });
    this.scheduleTurnRefresh(expiresAt);
  }

  /** Ask for fresh credentials a margin before expiry (at most half the remaining lifetime). */
  private scheduleTurnRefresh(expiresAt: number): void {
    const { clock, turnRefreshMarginMs } = this.config;
    if (this.turnTimer !== null) clock.clearTimeout(this.turnTimer);
    this.turnTimer = null;
    if (expiresAt <= 0) return;
    const remaining = expiresAt * 1000 - clock.now();
    const wait = Math.max(1000, remaining - Math.min(turnRefreshMarginMs, remaining / 2));
    this.turnTimer = clock.setTimeout(() => {
      this.turnTimer = null;
      // Not connected: the next welcome brings fresh credentials anyway.
      if (!this.refreshIceServers()) this.scheduleTurnRefresh(expiresAt);
    }, wait);
  }

  private startStats(): void {
    const tick = () => {
      this.statsTimer = null;
      if (this.closedFlag) return;
      for (const s of this.sessions.values()) void s.refreshPath();
      this.statsTimer = this.config.clock.setTimeout(tick, this.config.statsIntervalMs);
    };
    this.statsTimer = this.config.clock.setTimeout(tick, this.config.statsIntervalMs);
  }
}

function describe(s: PeerSession): RemotePeer {
  const meta: MemberMeta = { ...(s.member.meta ?? {}) };
  delete meta[INSTANCE_META_KEY];
  return {
    peerId: s.peerId,
    userId: s.member.userId,
    meta,
    path: s.path,
    rttMs: s.rttMs,
    p2pFailure: s.p2pFailure,
    quality: s.quality,
  };
}

/** The protocol's optional fields may be `undefined`; RTCIceServer's may only be absent. */
function toRtcIceServer({ urls, username, credential }: IceServer): RTCIceServer {
  return {
    urls,
    ...(username !== undefined && { username }),
    ...(credential !== undefined && { credential }),
  };
}

const encoder = new TextEncoder();
function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
