/**
 * Everything about one remote peer that outlives any single link: its data (pair-data.ts), its current
 * path, queued signals, and the link itself, which is replaced when it fails.
 *
 * Data never waits for a link: while none is connected it goes through signaling `data` frames, from
 * the first moment, and moves to the link as soon as one connects (socket.io's transport upgrade).
 * Paths: `connecting` until the first link connects or `p2pConnectTimeoutMs` passes (data already flows
 * over signaling); `direct`/`relay` while a link is connected (read from getStats); `websocket` when no
 * link is up past the deadline, after a link failed or while a replacement connects: the side that offers
 * then tries fresh links (the other side asks for them) every `iceRetryIntervalMs`.
 *
 * Reliable messages are numbered per pair and kept until acked, so a path switch resends what may have
 * been lost and the receiver's dedupe makes it exactly-once and in order. Unreliable messages take the
 * current path or are dropped.
 */
import type { ClientMessage, Member, SignalPayload } from '../../signaling/protocol/light/index.js';
import type { Clock, TimerHandle } from '../clock.js';
import {
  decodePayload,
  toSignalingData,
  type AppData,
  type EncodedPayload,
  type Frame,
} from '../data/frames.js';
import { LinkStatsReader, type ConnectionQuality, type LinkStats } from './link-stats.js';
import type { Link } from './link.js';
import { PairData } from './pair-data.js';
import { routeSignal, shouldInitiate } from './signal-router.js';
import { diagnose, parseCandidate, type LinkObservations, type P2pFailureReason } from './p2p-diagnosis.js';

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

/** What a session needs from its room. */
export interface SessionHost {
  readonly clock: Clock;
  readonly tuning: SessionTuning;
  localPeerId(): string;
  signalingOpen(): boolean;
  sendSignaling(message: ClientMessage): boolean;
  takeFallbackToken(): boolean;
  fallbackWaitMs(): number;
  createLink(options: { initiator: boolean; polite: boolean; sdkPeer: boolean }): Link;
  /** The ICE configuration new links are made with. */
  iceConfiguration(): RTCConfiguration;
  /** Why this pair cannot go P2P (after a failed attempt), or null once a link connects. */
  onP2pFailure(event: { peerId: string; reason: P2pFailureReason | null }): void;
  deliver(event: { from: string; channel: string | undefined; data: AppData; reliable: boolean }): void;
  onTrack(event: { peerId: string; track: MediaStreamTrack; stream: MediaStream }): void;
  /** A remote track's link went away (replaced or closed); a replacement link delivers it anew. */
  onTrackEnded(event: { peerId: string; track: MediaStreamTrack; stream: MediaStream }): void;
  /** The remote stopped sending a track (it unpublished it); the link stays. */
  onTrackRemoved(event: { peerId: string; track: MediaStreamTrack; stream: MediaStream }): void;
  onPath(event: { peerId: string; path: Path; rttMs: number | undefined }): void;
  onQuality(event: { peerId: string; quality: ConnectionQuality }): void;
  onLinkEvent(event: LinkEvent): void;
}

const MAX_RETIRED = 64;
/** The data channel label app data to a peer that does not run this SDK takes when no channel is named. */
export const PLAIN_DEFAULT_CHANNEL = 'data';

function emptyObservations(config: RTCConfiguration): LinkObservations {
  const urls = (config.iceServers ?? []).flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
  return {
    iceServerUrls: urls,
    iceTransportPolicy: config.iceTransportPolicy ?? 'all',
    local: [],
    remote: [],
    errors: [],
  };
}

function remember(set: Set<string>, value: string | null): void {
  if (value === null) return;
  set.add(value);
  if (set.size > MAX_RETIRED) set.delete(set.values().next().value!);
}

export class PeerSession {
  path: Path = 'connecting';
  rttMs: number | undefined;
  /** Set after a fresh rejoin when this peer was not in the new welcome; cleared when it shows up. */
  orphanTimer: TimerHandle | null = null;
  /** Why the last attempt at a link failed; null while one is up or none has failed yet. */
  p2pFailure: P2pFailureReason | null = null;
  private link: Link | null = null;
  /** What the current link has seen of candidates and server errors, for the failure's reason. */
  private observed: LinkObservations = emptyObservations({});
  /** Remote ufrags and session ids of replaced links (bounded): their late signals are dropped. */
  private readonly retired = { ufrags: new Set<string>(), sessions: new Set<string>() };
  private readonly data: PairData;
  /** The live link's latest stats reading (every `statsIntervalMs`); null while none is up. */
  linkStats: LinkStats | null = null;
  private statsReader = new LinkStatsReader();
  private reportedQuality: ConnectionQuality = 'lost';
  private readonly signalQueue: SignalPayload[] = [];
  /** Remote tracks received on the current link. */
  private remoteTracks: Array<{ track: MediaStreamTrack; stream: MediaStream }> = [];
  private p2pTimer: TimerHandle | null = null;
  private retryTimer: TimerHandle | null = null;
  private graceTimer: TimerHandle | null = null;
  /** Runs while an ICE restart is under way; when it fires, the link is replaced after all. */
  private restartTimer: TimerHandle | null = null;
  /** A peer that does not run this SDK: the time it gets to offer first. */
  private plainOfferTimer: TimerHandle | null = null;
  private closed = false;
  /** When this side last created a link or asked the remote for one. */
  private lastAttemptAt = -Infinity;

  constructor(
    private readonly host: SessionHost,
    public peerId: string,
    public member: Member,
    /** The remote SDK instance, stable across its peer id changes (fresh rejoins). */
    readonly instanceId: string | null,
  ) {
    this.data = new PairData({
      clock: host.clock,
      tuning: host.tuning,
      connectedLink: () => (this.link?.connected ? this.link : null),
      canSignal: () => this.canSignal(),
      takeFallbackToken: () => host.takeFallbackToken(),
      fallbackWaitMs: () => host.fallbackWaitMs(),
      sendOverSignaling: (frame) => this.sendFrameOverSignaling(frame),
      deliver: (event) => host.deliver({ from: this.peerId, ...event }),
      onControl: (frame) => this.onControl(frame),
    });
    this.p2pTimer = host.clock.setTimeout(() => this.onP2pDeadline(), host.tuning.p2pConnectTimeoutMs);
    if (!this.sdkPeer) {
      // A standards peer may offer as soon as it sees us, or only answer: leave it the first move.
      this.plainOfferTimer = host.clock.setTimeout(() => {
        this.plainOfferTimer = null;
        if (!this.link && !this.closed) this.newLink('initial');
      }, host.tuning.plainPeerOfferDelayMs);
    } else if (this.initiates) this.newLink('initial');
  }

  /** The remote runs this SDK (its member meta carries an instance id), so it frames data as we do. */
  get sdkPeer(): boolean {
    return this.instanceId !== null;
  }

  /**
   * Between two SDK peers the smaller peer id makes links and offers first; toward a peer that does not
   * run this SDK we do (after `plainPeerOfferDelayMs`), and we are always the polite side.
   */
  get initiates(): boolean {
    return !this.sdkPeer || shouldInitiate(this.host.localPeerId(), this.peerId);
  }

  private get polite(): boolean {
    return !this.sdkPeer || !this.initiates;
  }

  get linkConnected(): boolean {
    return this.link?.connected ?? false;
  }

  get pendingReliable(): number {
    return this.data.pending;
  }

  /**
   * Set by the room after a fresh rejoin while this peer is not (yet) back under a new id: its old id is
   * unknown to signaling, so nothing is sent over signaling (signals queue, reliable messages wait) until
   * `rekey` gives the new id or the room declares the peer gone.
   */
  private get awaitingRejoin(): boolean {
    return this.orphanTimer !== null;
  }

  /** Signaling can carry frames to this peer now. */
  private canSignal(): boolean {
    return this.host.signalingOpen() && !this.awaitingRejoin;
  }

  /**
   * The remote's peer id changed (it joined afresh after a signaling restart); the link stays. The room
   * has cleared `orphanTimer` first. Which side offers may have flipped with the new ids.
   */
  rekey(peerId: string, member: Member): void {
    this.peerId = peerId;
    this.member = member;
    this.signalingRestored();
  }

  // ---- signals ----

  receiveSignal(signal: SignalPayload): void {
    if (this.closed) return;
    const route = routeSignal(signal, this.link, this.retired);
    if (route === 'drop') return;
    if (route === 'new-link') this.newLink(this.link ? 'remote replaced link' : 'remote offer', false);
    if (signal.type === 'candidate') this.observed.remote.push(parseCandidate(signal.candidate.candidate));
    this.link?.signal(signal);
  }

  private sendSignal(signal: SignalPayload): void {
    if (this.signalQueue.length === 0 && this.canSignal()) {
      if (this.host.sendSignaling({ type: 'signal', to: this.peerId, signal })) return;
    }
    this.signalQueue.push(signal);
    if (this.signalQueue.length > this.host.tuning.maxQueuedSignals) this.signalQueue.shift();
  }

  /**
   * Signaling is back (or the peer's new id is known): send what queued up, and if no link is up, get one
   * going from whichever side offers now (the roles may have flipped with fresh ids), with the retry
   * timer running so that one lost request never leaves the pair on the WebSocket path for good.
   */
  signalingRestored(): void {
    if (this.closed || !this.canSignal()) return;
    this.flushSignals();
    if (!this.linkConnected) {
      if (!this.initiates) this.requestRelink();
      else if (!this.link?.initiator || this.host.clock.now() - this.lastAttemptAt >= this.retryMs()) {
        // An answering link cannot make progress once we are the side that offers.
        this.newLink('signaling restored');
      }
      if (this.path !== 'connecting') this.ensureRetry();
    }
    this.flush();
  }

  private flushSignals(): void {
    while (this.signalQueue.length > 0 && this.canSignal()) {
      const signal = this.signalQueue[0]!;
      if (!this.host.sendSignaling({ type: 'signal', to: this.peerId, signal })) return;
      this.signalQueue.shift();
    }
  }

  // ---- links ----

  private newLink(reason: string, initiator = true): Link {
    const replacesWorkingLink = this.link?.connected ?? false;
    this.retireLink();
    if (replacesWorkingLink) {
      // Until the new link connects, data takes signaling (what the old link had unacked goes again)
      // and the path says so; the retry timer bounds how long the new link may take.
      this.useWebsocket();
      this.ensureRetry();
    }
    this.lastAttemptAt = this.host.clock.now();
    const link = this.host.createLink({ initiator, polite: this.polite, sdkPeer: this.sdkPeer });
    this.statsReader = new LinkStatsReader();
    this.linkStats = null;
    this.link = link;
    const observed = emptyObservations(this.host.iceConfiguration());
    this.observed = observed;
    const current = () => link === this.link && !this.closed;
    link.on('signal', (s) => {
      if (!current()) return;
      if (s.type === 'candidate') observed.local.push(parseCandidate(s.candidate.candidate));
      this.sendSignal(s);
    });
    link.on('candidate-error', (e) => current() && observed.errors.push(e));
    link.on('connect', () => current() && this.onLinkConnected());
    link.on('data', (text) => current() && this.data.receiveLinkText(text));
    link.on('unreliable', (text) => current() && this.data.receiveLinkText(text));
    link.on('app-data', (e) => {
      if (current())
        this.host.deliver({ from: this.peerId, channel: e.label, data: e.data, reliable: e.reliable });
    });
    link.on('track', (e) => {
      if (!current()) return;
      this.remoteTracks.push(e);
      this.host.onTrack({ peerId: this.peerId, ...e });
    });
    link.on('track-removed', (e) => {
      if (!current()) return;
      this.remoteTracks = this.remoteTracks.filter((t) => t.track !== e.track);
      this.host.onTrackRemoved({ peerId: this.peerId, ...e });
    });
    link.on('ice-state', (state) => current() && this.onIceState(state));
    link.on('close', (e) => {
      if (!current()) return;
      this.linkFailed(e.error ? `${e.error.code}: ${e.error.message}` : 'link closed');
    });
    this.host.onLinkEvent({ peerId: this.peerId, kind: 'created', initiator, reason });
    return link;
  }

  private retireLink(): void {
    const link = this.link;
    if (!link) return;
    this.link = null;
    remember(this.retired.ufrags, link.remoteUfrag);
    remember(this.retired.sessions, link.remoteSession);
    this.clearTimer('graceTimer');
    this.clearTimer('restartTimer');
    link.destroy();
    this.endRemoteTracks();
  }

  private endRemoteTracks(): void {
    const ended = this.remoteTracks;
    this.remoteTracks = [];
    for (const t of ended) this.host.onTrackEnded({ peerId: this.peerId, ...t });
  }

  private onLinkConnected(): void {
    this.setFailure(null);
    this.clearTimer('restartTimer');
    this.clearTimer('p2pTimer');
    this.clearTimer('retryTimer');
    this.clearTimer('graceTimer');
    this.host.onLinkEvent({
      peerId: this.peerId,
      kind: 'connected',
      initiator: this.link!.initiator,
      reason: 'ice',
    });
    this.data.newPath();
    this.data.reack();
    void this.refreshPath();
  }

  private onIceState(state: RTCIceConnectionState): void {
    if (state === 'connected' || state === 'completed') {
      this.clearTimer('graceTimer');
      if (this.restartTimer !== null) this.onIceRestarted();
      return;
    }
    if (!this.linkConnected) return;
    if (state === 'failed') this.restartIce('ice failed');
    else if (state === 'disconnected' && this.graceTimer === null && this.restartTimer === null) {
      this.graceTimer = this.host.clock.setTimeout(() => {
        this.graceTimer = null;
        this.restartIce('ice disconnected past grace');
      }, this.host.tuning.iceDisconnectedGraceMs);
    }
  }

  /**
   * Restart ICE on the live link (RFC 8445 §9) rather than replacing it: remote tracks keep their
   * identity and the reliable channel its order (SCTP holds what could not go meanwhile). A restart made
   * while the network was
   * still away gathers nothing useful, so one not connected within `p2pConnectTimeoutMs` is made again,
   * up to `iceRestartAttempts`; then the link is replaced after all (the last resort).
   */
  private restartIce(reason: string, attempt = 1): void {
    const link = this.link;
    if (!link || (attempt === 1 && this.restartTimer !== null) || this.closed) return;
    this.clearTimer('graceTimer');
    this.host.onLinkEvent({ peerId: this.peerId, kind: 'restarting', initiator: link.initiator, reason });
    this.restartTimer = this.host.clock.setTimeout(() => {
      this.restartTimer = null;
      if (attempt < this.host.tuning.iceRestartAttempts) this.restartIce(reason, attempt + 1);
      else this.linkFailed(`ice restart did not reconnect (${reason})`);
    }, this.host.tuning.p2pConnectTimeoutMs);
    // Between SDK peers the side that offers restarts (the other sees the same failure and waits for its
    // offer): restarts from both ends at once cross, and Firefox does not recover from a restart offered
    // by the side that answered the connection. A peer that does not run this SDK may never restart, so
    // toward it we do.
    if (this.initiates) link.restartIce();
  }

  private onIceRestarted(): void {
    this.clearTimer('restartTimer');
    const link = this.link;
    if (!link) return;
    this.host.onLinkEvent({
      peerId: this.peerId,
      kind: 'connected',
      initiator: link.initiator,
      reason: 'ice restart',
    });
    this.data.reack();
    this.data.flush();
    // The selected pair may have changed (another interface, or the relay): say where data goes now.
    void this.refreshPath(true);
  }

  /**
   * The link failed or was given up on: carry data over signaling, and get a new link going, at most one
   * attempt per `iceRetryIntervalMs` (a link that fails at once must not spin).
   */
  private linkFailed(reason: string): void {
    if (this.closed) return;
    const remoteUfrag = this.link?.remoteUfrag ?? null;
    const initiator = this.link?.initiator ?? this.initiates;
    this.host.onLinkEvent({ peerId: this.peerId, kind: 'failed', initiator, reason });
    this.setFailure(diagnose(this.observed));
    this.retireLink();
    this.useWebsocket();
    const rested = this.host.clock.now() - this.lastAttemptAt >= this.retryMs();
    if (rested) {
      if (this.initiates) this.newLink(`replacing: ${reason}`);
      else this.requestRelink(remoteUfrag);
    }
    this.ensureRetry();
  }

  private onP2pDeadline(): void {
    this.p2pTimer = null;
    if (this.closed || this.linkConnected) return;
    this.setFailure(diagnose(this.observed));
    this.useWebsocket();
    if (!this.initiates) this.requestRelink();
    this.ensureRetry();
  }

  private setFailure(reason: P2pFailureReason | null): void {
    if (reason === this.p2pFailure) return;
    this.p2pFailure = reason;
    this.host.onP2pFailure({ peerId: this.peerId, reason });
  }

  private retryMs(): number {
    return this.host.tuning.iceRetryIntervalMs;
  }

  /**
   * While no link is up, whichever side offers now tries a fresh link (or asks for one) every
   * `iceRetryIntervalMs`, on both sides of the pair: a relink request lost while signaling was down, or a
   * role flip after a rejoin, is made good at the next tick. Stops once a link connects.
   */
  private ensureRetry(): void {
    if (this.retryTimer !== null || this.closed) return;
    this.retryTimer = this.host.clock.setTimeout(() => {
      this.retryTimer = null;
      if (this.closed || this.linkConnected) return;
      // The attempt of the last interval did not connect: say why before trying again.
      const reason = diagnose(this.observed);
      if (reason !== null) this.setFailure(reason);
      if (this.initiates) this.newLink('retry while on websocket');
      else this.requestRelink();
      this.ensureRetry();
    }, this.retryMs());
  }

  /** Ask the initiating side for a fresh link (naming the link we had, so a stale request is ignored). */
  private requestRelink(ufrag: string | null = this.link?.remoteUfrag ?? null): void {
    if (!this.canSignal()) return; // asked again when signaling is back (signalingRestored)
    this.lastAttemptAt = this.host.clock.now();
    this.sendFrameOverSignaling({ kind: 'control', request: { op: 'relink', ufrag } });
  }

  /** Stats of the live link; null while none is connected. */
  async getStats(): Promise<RTCStatsReport | null> {
    if (!this.link?.connected) return null;
    return (await this.link.getStats()) ?? null;
  }

  /** good / poor from the live link's loss and RTT; lost while no link is up. */
  get quality(): ConnectionQuality {
    if (this.path === 'websocket' || this.path === 'connecting') return 'lost';
    return this.linkStats?.quality ?? 'good';
  }

  /** Re-read path, RTT and the rest from the live link's stats; `announce` emits `path` even when unchanged. */
  async refreshPath(announce = false): Promise<void> {
    if (!this.link?.connected) return;
    const stats = this.link.getStats();
    if (!stats) return this.setPath('direct', undefined, announce); // no stats on this platform: P2P, kind unknown
    const reader = this.statsReader;
    let reading;
    try {
      reading = reader.read(await stats, this.host.clock.now());
    } catch {
      return;
    }
    if (this.closed || !this.linkConnected || reader !== this.statsReader) return;
    this.linkStats = reading;
    this.setPath(reading?.path ?? 'direct', reading?.rttMs, announce);
    this.noteQuality();
  }

  private noteQuality(): void {
    const quality = this.quality;
    if (quality === this.reportedQuality) return;
    this.reportedQuality = quality;
    this.host.onQuality({ peerId: this.peerId, quality });
  }

  /**
   * The app changed the ICE configuration: applied to the live link (its next negotiation restarts ICE on
   * the same link; the router keeps it); a waiting pair tries a fresh link at once.
   */
  applyIceConfiguration(config: RTCConfiguration): void {
    this.link?.setConfiguration(config);
    if (this.linkConnected || this.closed) return;
    if (this.initiates) {
      this.newLink('new ICE configuration');
      if (this.path === 'websocket') this.ensureRetry();
    } else {
      this.requestRelink();
    }
  }

  private useWebsocket(): void {
    if (this.path === 'websocket') return;
    this.setPath('websocket', undefined);
    this.data.newPath();
  }

  private setPath(path: Path, rttMs: number | undefined, announce = false): void {
    const changed = path !== this.path || rttMs !== this.rttMs;
    this.path = path;
    this.rttMs = rttMs;
    if (changed || announce) this.host.onPath({ peerId: this.peerId, path, rttMs });
    this.noteQuality();
  }

  // ---- media ----

  addTrack(track: MediaStreamTrack, stream: MediaStream): void {
    this.link?.addTrack(track, stream);
  }

  removeTrack(track: MediaStreamTrack, stream: MediaStream): void {
    try {
      this.link?.removeTrack(track, stream);
    } catch {
      // Never added on this link (it was created after the track was published and removed).
    }
  }

  replaceTrack(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): Promise<boolean> {
    return this.link?.replaceTrack(oldTrack, newTrack) ?? Promise.resolve(false);
  }

  // ---- data ----

  sendReliable(payload: EncodedPayload): void {
    if (!this.sdkPeer) return void this.sendPlain(payload, true);
    this.data.sendReliable(payload);
  }

  sendUnreliable(payload: EncodedPayload): boolean {
    if (!this.sdkPeer) return this.sendPlain(payload, false);
    return !this.closed && this.data.sendUnreliable(payload);
  }

  /**
   * To a peer that does not run this SDK: as is, on the data channel named by the message's channel
   * (`data` by default), or in a plain signaling `data` frame while no link is up. No numbering, no acks.
   */
  private sendPlain(payload: EncodedPayload, reliable: boolean): boolean {
    if (this.closed) return false;
    if (this.link?.connected)
      return this.link.sendApp(payload.channel ?? PLAIN_DEFAULT_CHANNEL, decodePayload(payload), reliable);
    if (!this.canSignal() || !this.host.takeFallbackToken()) return false;
    return this.host.sendSignaling({
      type: 'data',
      to: this.peerId,
      payload: payload.payload,
      ...(payload.binary && { binary: true }),
      ...(payload.channel !== undefined && { channel: payload.channel }),
    });
  }

  /** Send what is due on the current path. */
  flush(): void {
    if (!this.closed) this.data.flush();
  }

  /** A frame from signaling (data, acks, relink requests). */
  receiveFrame(frame: Frame): void {
    if (!this.closed) this.data.receive(frame);
  }

  private sendFrameOverSignaling(frame: Frame): boolean {
    if (!this.canSignal()) return false;
    return this.host.sendSignaling(toSignalingData(frame, this.peerId));
  }

  /** The remote asked for a new link (naming the one it had): only the side that offers makes one. */
  private onControl(frame: Frame & { kind: 'control' }): void {
    if (!this.initiates) return;
    if (frame.request.ufrag === null || !this.link || frame.request.ufrag === this.link.localUfrag) {
      this.linkFailed('remote asked for a new link');
    }
  }

  private clearTimer(
    name: 'p2pTimer' | 'retryTimer' | 'graceTimer' | 'orphanTimer' | 'restartTimer' | 'plainOfferTimer',
  ): void {
    const timer = this[name];
    if (timer !== null) this.host.clock.clearTimeout(timer);
    this[name] = null;
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const name of [
      'p2pTimer',
      'retryTimer',
      'graceTimer',
      'orphanTimer',
      'restartTimer',
      'plainOfferTimer',
    ] as const)
      this.clearTimer(name);
    this.data.close();
    const link = this.link;
    this.link = null;
    link?.destroy();
    this.endRemoteTracks();
  }
}
