/**
 * A joined room: the signaling client, one PeerSession per remote peer (a mesh), the published media,
 * and the typed events apps listen to. Server messages are dispatched in one exhaustive switch.
 */
import {
  assertNever,
  type IceServer,
  type Member,
  type ServerMessage,
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
  type SessionEnv,
  type SessionEvents,
  type SessionTuning,
} from './peer/peer-session.js';
import { INSTANCE_META_KEY, PeerRoster, type PeerLeftReason } from './peer/roster.js';
import type { LinkOptions } from './peer/link.js';
import { createRtcLink } from './peer/rtc-link.js';
import type { Platform } from './platform/platform.js';
import {
  SignalingClient,
  type JoinKind,
  type SignalingState,
  type Welcome,
} from './signaling/signaling-client.js';

export type { Path, LinkEvent, SignalingState, JoinKind, AppData, P2pFailureReason };
export { INSTANCE_META_KEY, type PeerLeftReason };
import type { MemberMeta, PeerStats, RemotePeer, RoomEvents, SendOptions } from './room-events.js';
export type { MemberMeta, PeerStats, RemotePeer, RoomEvents, SendOptions };

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
  private readonly roster: PeerRoster;
  private readonly published = new PublishedTracks();
  private readonly gate: RateGate;
  private readonly env: SessionEnv;
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
    this.env = this.makeEnv();
    this.roster = new PeerRoster({
      clock: config.clock,
      orphanGraceMs: config.orphanGraceMs,
      createSession: (member, instanceId) => this.createSession(member, instanceId),
      isMember: (peerId) => this.welcome?.members.some((m) => m.peerId === peerId) ?? false,
    });
    this.roster.on('peer-joined', ({ session }) => this.emit('peer-joined', { peer: describe(session) }));
    this.roster.on('peer-left', (e) => this.emit('peer-left', e));
    this.roster.on('peer-rejoined', (e) => this.emit('peer-rejoined', e));
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
    return this.roster.all().map((s) => describe(s));
  }

  peer(peerId: string): RemotePeer | undefined {
    const s = this.roster.get(peerId);
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
    const targets = this.roster.targets(options.to);
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
    const s = this.roster.get(peerId);
    if (!s) return Promise.reject(new SdkError('unknown_peer', undefined, { peerId }));
    return s.getStats();
  }

  /**
   * A summary of the pair with `peerId`: path, RTT, candidate types, bitrate each way, received loss and
   * quality, as of the latest stats poll (`statsIntervalMs`); rates need two polls of the same link.
   */
  getPeerStats(peerId: string): PeerStats {
    const s = this.roster.get(peerId);
    if (!s) throw new SdkError('unknown_peer', undefined, { peerId });
    const { path: _path, quality: _quality, ...numbers } = s.pathState.stats ?? {};
    return { ...numbers, path: s.pathState.path, quality: s.pathState.quality };
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
    for (const s of this.roster.all()) s.addTrack(track, stream);
  }

  unpublishTrack(track: MediaStreamTrack, stream: MediaStream): void {
    if (!this.published.remove(track, stream)) return;
    for (const s of this.roster.all()) s.removeTrack(track, stream);
  }

  /**
   * Send `newTrack` wherever `oldTrack` was published (another camera or microphone), without
   * renegotiating: the peers keep receiving on the same remote track. Future links get `newTrack`.
   */
  async replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<void> {
    if (!this.published.replace(oldTrack, newTrack)) throw new SdkError('unknown_track');
    await Promise.all(this.roster.all().map((s) => s.replaceTrack(oldTrack, newTrack)));
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
    for (const s of this.roster.all()) s.applyIceConfiguration(rtc);
  }

  /**
   * Replace this member's metadata (what the others see in `peer.meta`): they get `peer-updated`, later
   * joiners see it, and a reconnect keeps it. False when not connected (nothing is sent; call again).
   */
  updateMetadata(meta: MemberMeta): boolean {
    const full = { ...meta, [INSTANCE_META_KEY]: this.instanceId };
    if (!this.signaling.send({ type: 'update-metadata', id: this.signaling.requestId(), meta: full }))
      return false;
    this.signaling.setMeta(full);
    return true;
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
    this.roster.close();
    if (this.statsTimer !== null) this.config.clock.clearTimeout(this.statsTimer);
    if (this.turnTimer !== null) this.config.clock.clearTimeout(this.turnTimer);
    this.emit('closed', error ? { error } : {});
    this.removeAllListeners();
  }

  private rtcConfiguration(): RTCConfiguration {
    return {
      iceServers: (this.config.iceServers ?? this.iceServers).map(toRtcIceServer),
      iceTransportPolicy: this.iceTransportPolicy,
    };
  }

  private makeEnv(): SessionEnv {
    const { clock, tuning, platform } = this.config;
    return {
      clock,
      tuning,
      localPeerId: () => this.peerId,
      signaling: {
        open: () => this.signaling.state === 'connected',
        send: (m) => this.signaling.send(m),
      },
      fallbackGate: this.gate,
      iceConfiguration: () => this.rtcConfiguration(),
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
    };
  }

  /** A session whose events become the room's (the room adds nothing to most of them). */
  private createSession(member: Member, instanceId: string | null): PeerSession {
    const s = new PeerSession(this.env, member.peerId, member, instanceId);
    const forward = <K extends keyof SessionEvents & keyof RoomEvents>(name: K) =>
      s.on(name, (e: SessionEvents[K]) => this.emit(name, e as RoomEvents[K]));
    for (const name of ['data', 'track', 'track-ended', 'track-removed', 'path', 'quality'] as const)
      forward(name);
    s.on('p2p-failure', ({ peerId, reason }) => {
      if (reason) this.emit('p2p-failed', { peerId, reason, message: P2P_FAILURE_REASONS[reason] });
    });
    s.on('link', (e) => {
      this.emit('link', e);
      if (e.kind === 'failed') {
        this.emit('error', { error: new SdkError('peer_link_failed', e.reason, { peerId: e.peerId }) });
      }
    });
    return s;
  }

  private onJoined(welcome: Welcome, kind: JoinKind, previousPeerId: string | null): void {
    if (this.closedFlag) return;
    this.welcome = welcome;
    // Pace the WebSocket fallback by what this server allows, not a number of our own.
    const share = welcome.limits.ratePerSecond * DEFAULTS.fallbackShareOfServerRate;
    this.gate.setRate(Math.min(this.config.fallbackRatePerSecond, share));
    this.applyIceServers(welcome.iceServers, welcome.iceServersExpireAt, kind !== 'initial');
    if (kind === 'initial') {
      for (const m of welcome.members) this.roster.add(m);
      this.startStats();
      return;
    }
    this.roster.reconcile(welcome.members, kind);
    this.emit('resumed', { kind, peerId: welcome.peerId, previousPeerId });
  }

  private onMessage(message: ServerMessage): void {
    if (this.closedFlag) return;
    switch (message.type) {
      case 'peer-joined': {
        const wasOrphanOrNew = !this.roster.get(message.peer.peerId);
        if (wasOrphanOrNew) this.roster.add(message.peer);
        if (this.welcome && !this.welcome.members.some((m) => m.peerId === message.peer.peerId)) {
          this.welcome.members.push(message.peer);
        }
        return;
      }
      case 'member-updated': {
        const session = this.roster.get(message.peer.peerId);
        if (!session) return; // our own update's answer, or a peer not known yet
        session.member = message.peer;
        if (this.welcome)
          this.welcome.members = this.welcome.members.map((m) =>
            m.peerId === message.peer.peerId ? message.peer : m,
          );
        this.emit('peer-updated', { peer: describe(session) });
        return;
      }
      case 'peer-left':
        if (this.welcome)
          this.welcome.members = this.welcome.members.filter((m) => m.peerId !== message.peerId);
        this.roster.remove(message.peerId, message.reason);
        return;
      case 'signal':
        this.roster.get(message.from)?.receiveSignal(message.signal);
        return;
      case 'data': {
        const frame = fromSignalingData(message);
        if (!frame) return;
        const session = this.roster.get(message.from);
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
      for (const s of this.roster.all()) void s.refreshPath();
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
    path: s.pathState.path,
    rttMs: s.pathState.rttMs,
    p2pFailure: s.p2pFailure,
    quality: s.pathState.quality,
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
