/**
 * Everything about one remote peer that outlives any single link: its data (pair-data.ts), its path
 * (path-state.ts), its outgoing signals (signal-outbox.ts), and the link itself, whose ICE is restarted
 * when it falters (ice-recovery.ts) and which is replaced when that fails or the remote went away.
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
import type { Member, SignalPayload } from '../../signaling/protocol/light/index.js';
import type { TimerHandle } from '../clock.js';
import { toSignalingData, type EncodedPayload, type Frame } from '../data/frames.js';
import { sendPlain } from '../data/plain-data.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { IceRecovery } from './ice-recovery.js';
import type { Link } from './link.js';
import {
  diagnose,
  emptyObservations,
  parseCandidate,
  type LinkObservations,
  type P2pFailureReason,
} from './p2p-diagnosis.js';
import { PairData } from './pair-data.js';
import { PathState } from './path-state.js';
import type { SessionEnv, SessionEvents } from './session-types.js';
import { SignalOutbox } from './signal-outbox.js';
import { remember, routeSignal, shouldInitiate } from './signal-router.js';

export type { LinkEvent, Path, SessionEnv, SessionEvents, SessionTuning } from './session-types.js';

export class PeerSession extends TypedEmitter<SessionEvents> {
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
  readonly pathState: PathState;
  private readonly outbox: SignalOutbox;
  /** Remote tracks received on the current link. */
  private remoteTracks: Array<{ track: MediaStreamTrack; stream: MediaStream }> = [];
  private p2pTimer: TimerHandle | null = null;
  private retryTimer: TimerHandle | null = null;
  private readonly ice: IceRecovery;
  /** A peer that does not run this SDK: the time it gets to offer first. */
  private plainOfferTimer: TimerHandle | null = null;
  private closed = false;
  /** When this side last created a link or asked the remote for one. */
  private lastAttemptAt = -Infinity;

  constructor(
    private readonly host: SessionEnv,
    public peerId: string,
    public member: Member,
    /** The remote SDK instance, stable across its peer id changes (fresh rejoins). */
    readonly instanceId: string | null,
  ) {
    super();
    this.ice = new IceRecovery({
      clock: host.clock,
      tuning: host.tuning,
      restart: (reason) => this.restartIce(reason),
      restored: () => this.onIceRestarted(),
      giveUp: (reason) => this.linkFailed(reason),
    });
    this.data = new PairData({
      clock: host.clock,
      tuning: host.tuning,
      connectedLink: () => (this.link?.connected ? this.link : null),
      canSignal: () => this.canSignal(),
      takeFallbackToken: () => host.fallbackGate.tryTake(),
      fallbackWaitMs: () => host.fallbackGate.waitMs(),
      sendOverSignaling: (frame) => this.sendFrameOverSignaling(frame),
      deliver: (event) => this.emit('data', { from: this.peerId, ...event }),
      onControl: (frame) => this.onControl(frame),
    });
    this.pathState = new PathState({
      path: (path, rttMs) => this.emit('path', { peerId: this.peerId, path, rttMs }),
      quality: (quality) => this.emit('quality', { peerId: this.peerId, quality }),
    });
    this.outbox = new SignalOutbox(
      {
        open: () => this.canSignal(),
        send: (signal) => host.signaling.send({ type: 'signal', to: this.peerId, signal }),
      },
      host.tuning.maxQueuedSignals,
    );
  }

  /** Arm the deadline and make the first link (or wait for the remote's offer); after listeners are on. */
  start(): void {
    const host = this.host;
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
    return this.host.signaling.open() && !this.awaitingRejoin;
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
    const link = this.link;
    if (!link) return;
    const ufrag = link.remoteUfrag;
    link.signal(signal);
    if (this.linkConnected && ufrag !== null && link.remoteUfrag !== ufrag)
      this.ice.onRemoteRestart(this.pathState.stats?.pairId ?? null);
  }

  /**
   * Signaling is back (or the peer's new id is known): send what queued up, and if no link is up, get one
   * going from whichever side offers now (the roles may have flipped with fresh ids), with the retry
   * timer running so that one lost request never leaves the pair on the WebSocket path for good.
   */
  signalingRestored(): void {
    if (this.closed || !this.canSignal()) return;
    this.outbox.flush();
    if (!this.linkConnected) {
      if (!this.initiates) this.requestRelink();
      else if (!this.link?.initiator || this.host.clock.now() - this.lastAttemptAt >= this.retryMs()) {
        // An answering link cannot make progress once we are the side that offers.
        this.newLink('signaling restored');
      }
      if (this.pathState.path !== 'connecting') this.ensureRetry();
    }
    this.flush();
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
    this.pathState.newLink();
    this.link = link;
    const observed = emptyObservations(this.host.iceConfiguration());
    this.observed = observed;
    const current = () => link === this.link && !this.closed;
    link.on('signal', (s) => {
      if (!current()) return;
      if (s.type === 'candidate') observed.local.push(parseCandidate(s.candidate.candidate));
      this.outbox.send(s);
    });
    link.on('candidate-error', (e) => current() && observed.errors.push(e));
    link.on('connect', () => current() && this.onLinkConnected());
    link.on('data', (text) => current() && this.data.receiveLinkText(text));
    link.on('unreliable', (text) => current() && this.data.receiveLinkText(text));
    link.on('app-data', (e) => {
      if (current())
        this.emit('data', { from: this.peerId, channel: e.label, data: e.data, reliable: e.reliable });
    });
    link.on('track', (e) => {
      if (!current()) return;
      this.remoteTracks.push(e);
      this.emit('track', { peerId: this.peerId, ...e });
    });
    link.on('track-removed', (e) => {
      if (!current()) return;
      this.remoteTracks = this.remoteTracks.filter((t) => t.track !== e.track);
      this.emit('track-removed', { peerId: this.peerId, ...e });
    });
    link.on('ice-state', (state) => current() && this.ice.onIceState(state, this.linkConnected));
    link.on('close', (e) => {
      if (!current()) return;
      this.linkFailed(e.error ? `${e.error.code}: ${e.error.message}` : 'link closed');
    });
    this.emit('link', { peerId: this.peerId, kind: 'created', initiator, reason });
    return link;
  }

  private retireLink(): void {
    const link = this.link;
    if (!link) return;
    this.link = null;
    remember(this.retired.ufrags, link.remoteUfrag);
    remember(this.retired.sessions, link.remoteSession);
    this.ice.reset();
    link.destroy();
    this.endRemoteTracks();
  }

  private endRemoteTracks(): void {
    const ended = this.remoteTracks;
    this.remoteTracks = [];
    for (const t of ended) this.emit('track-ended', { peerId: this.peerId, ...t });
  }

  private onLinkConnected(): void {
    this.setFailure(null);
    this.ice.reset();
    this.clearTimer('p2pTimer');
    this.clearTimer('retryTimer');
    this.emit('link', {
      peerId: this.peerId,
      kind: 'connected',
      initiator: this.link!.initiator,
      reason: 'ice',
    });
    this.data.newPath();
    this.data.reack();
    void this.refreshPath();
  }

  /**
   * ICE restart on the live link (see `ice-recovery.ts`). Between SDK peers only the side that offers
   * restarts; the other sees the same failure and waits for its offer: restarts from both ends crossed,
   * and Firefox did not recover from a restart offered by the side that answered the connection. A peer
   * that does not run this SDK may never restart, so toward it we do.
   */
  private restartIce(reason: string): void {
    const link = this.link;
    if (!link || this.closed) return;
    this.emit('link', { peerId: this.peerId, kind: 'restarting', initiator: link.initiator, reason });
    if (this.initiates) link.restartIce();
  }

  private onIceRestarted(): void {
    const link = this.link;
    if (!link) return;
    this.emit('link', {
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
    this.emit('link', { peerId: this.peerId, kind: 'failed', initiator, reason });
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
    this.emit('p2p-failure', { peerId: this.peerId, reason });
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

  /** Re-read path, RTT and the rest from the live link's stats; `announce` emits `path` even when unchanged. */
  async refreshPath(announce = false): Promise<void> {
    const link = this.link;
    if (!link?.connected) return;
    const stats = link.getStats();
    if (!stats) return this.pathState.set('direct', undefined, announce); // no stats here: P2P, kind unknown
    const reading = await this.pathState.read(stats, this.host.clock.now());
    if (reading === undefined || this.closed || !this.linkConnected || link !== this.link) return;
    if (reading) this.pathState.stats = reading;
    // A remote restart that ends here announces the restore, and the path with it.
    if (!reading || !this.ice.selectedPair(reading.pairId)) this.pathState.take(reading, announce);
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
      if (this.pathState.path === 'websocket') this.ensureRetry();
    } else {
      this.requestRelink();
    }
  }

  private useWebsocket(): void {
    if (this.pathState.path === 'websocket') return;
    this.pathState.set('websocket', undefined);
    this.data.newPath();
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

  /** To a peer that does not run this SDK (`data/plain-data.ts`). */
  private sendPlain(payload: EncodedPayload, reliable: boolean): boolean {
    if (this.closed) return false;
    const signaling = this.canSignal() ? this.host.signaling : null;
    return sendPlain(payload, reliable, this.peerId, this.link, signaling, this.host.fallbackGate);
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
    return this.host.signaling.send(toSignalingData(frame, this.peerId));
  }

  /** The remote asked for a new link (naming the one it had): only the side that offers makes one. */
  private onControl(frame: Frame & { kind: 'control' }): void {
    if (!this.initiates) return;
    if (frame.request.ufrag === null || !this.link || frame.request.ufrag === this.link.localUfrag) {
      this.linkFailed('remote asked for a new link');
    }
  }

  private clearTimer(name: 'p2pTimer' | 'retryTimer' | 'orphanTimer' | 'plainOfferTimer'): void {
    const timer = this[name];
    if (timer !== null) this.host.clock.clearTimeout(timer);
    this[name] = null;
  }

  /** Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const name of ['p2pTimer', 'retryTimer', 'orphanTimer', 'plainOfferTimer'] as const)
      this.clearTimer(name);
    this.data.close();
    this.ice.reset();
    const link = this.link;
    this.link = null;
    link?.destroy();
    this.endRemoteTracks();
    this.removeAllListeners();
  }
}
