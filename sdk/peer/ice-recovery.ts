/**
 * What a live link does when its ICE falters, and the one owner of the two timers that decide it: ICE
 * `disconnected` longer than `iceDisconnectedGraceMs`, or `failed`, restarts ICE on the same link (RFC
 * 8445 §9) rather than replacing it, so remote tracks keep their identity and the reliable channel its
 * order (SCTP holds what could not go meanwhile). A restart made while the network was still away
 * gathers nothing useful, so one not connected within `p2pConnectTimeoutMs` is made again, up to
 * `iceRestartAttempts`; then the link is given up (replaced by the session: the last resort).
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface IceRecoveryHooks {
  clock: Clock;
  tuning: { iceDisconnectedGraceMs: number; p2pConnectTimeoutMs: number; iceRestartAttempts: number };
  /** Ask the link for an ICE restart (or wait for the remote's, see `PeerSession.restartIce`). */
  restart(reason: string): void;
  /** ICE is back after a restart. */
  restored(): void;
  /** Every restart failed: replace the link. */
  giveUp(reason: string): void;
}

export class IceRecovery {
  private graceTimer: TimerHandle | null = null;
  private restartTimer: TimerHandle | null = null;
  /** The remote restarted ICE (its offer carried new credentials): its next `connected` is a restore. */
  private remoteRestart = false;
  /** The selected pair (stats id) when it did. */
  private pairAtRemoteRestart: string | null = null;

  constructor(private readonly hooks: IceRecoveryHooks) {}

  /** A restart is under way. */
  get restarting(): boolean {
    return this.restartTimer !== null;
  }

  /** The link's ICE state changed; `linkUp` says whether the link had connected. */
  onIceState(state: RTCIceConnectionState, linkUp: boolean): void {
    if (state === 'connected' || state === 'completed') {
      this.clear('graceTimer');
      if (this.restartTimer !== null || this.remoteRestart) {
        this.clear('restartTimer');
        this.remoteRestart = false;
        this.hooks.restored();
      }
      return;
    }
    if (!linkUp) return;
    if (state === 'failed') this.restart('ice failed');
    else if (state === 'disconnected' && this.graceTimer === null && this.restartTimer === null) {
      this.graceTimer = this.hooks.clock.setTimeout(() => {
        this.graceTimer = null;
        this.restart('ice disconnected past grace');
      }, this.hooks.tuning.iceDisconnectedGraceMs);
    }
  }

  private restart(reason: string, attempt = 1): void {
    if (attempt === 1 && this.restartTimer !== null) return;
    this.clear('graceTimer');
    const { clock, tuning } = this.hooks;
    this.restartTimer = clock.setTimeout(() => {
      this.restartTimer = null;
      if (attempt < tuning.iceRestartAttempts) this.restart(reason, attempt + 1);
      else this.hooks.giveUp(`ice restart did not reconnect (${reason})`);
    }, tuning.p2pConnectTimeoutMs);
    this.hooks.restart(reason);
  }

  /**
   * The remote restarted ICE on the live link. The side that answers never restarts itself toward an SDK
   * peer, and the remote's offer may arrive before this side's grace ran out, or before it saw ICE falter
   * at all: the restore is still announced here (new pair, data re-acknowledged).
   */
  onRemoteRestart(selectedPairId: string | null): void {
    this.remoteRestart = true;
    this.pairAtRemoteRestart = selectedPairId;
  }

  /**
   * The link's stats name the selected pair. One selected since the remote restarted ICE ends that restart:
   * libwebrtc may keep reporting `connected` through a restart on the side that answers it (it never saw
   * the old pair fail), so no state change would tell this side. True when that restored the link.
   */
  selectedPair(pairId: string): boolean {
    if (!this.remoteRestart || pairId === this.pairAtRemoteRestart) return false;
    this.onIceState('connected', true);
    return true;
  }

  /** The link connected, was replaced or closed: nothing pending. Idempotent. */
  reset(): void {
    this.clear('graceTimer');
    this.clear('restartTimer');
    this.remoteRestart = false;
  }

  private clear(name: 'graceTimer' | 'restartTimer'): void {
    const timer = this[name];
    if (timer !== null) this.hooks.clock.clearTimeout(timer);
    this[name] = null;
  }
}
