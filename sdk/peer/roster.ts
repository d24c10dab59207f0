/**
 * The room's peers: one PeerSession per remote member, keyed by peer id. It owns the map and its three
 * ways to change: a member arrives (a session, or, when its SDK instance is already known under an older
 * peer id, that session re-keyed: the peer rejoined after a signaling restart and keeps its link), a
 * member leaves, and after a fresh rejoin a member not (yet) back is orphaned: it keeps its link for
 * `orphanGraceMs`, waiting to be re-keyed, and then leaves.
 */
import type { Member, ServerMessageOf } from '../../signaling/protocol/light/index.js';
import type { Clock } from '../clock.js';
import { SdkError } from '../errors.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import type { PeerSession } from './peer-session.js';

/** Meta key carrying the SDK instance id, so a peer that rejoined under a new id keeps its link. */
export const INSTANCE_META_KEY = '~sdk';

export type PeerLeftReason = ServerMessageOf<'peer-left'>['reason'];

export interface RosterEvents {
  'peer-joined': { session: PeerSession };
  'peer-left': { peerId: string; reason: PeerLeftReason };
  'peer-rejoined': { peerId: string; previousPeerId: string };
}

export interface RosterOptions {
  clock: Clock;
  orphanGraceMs: number;
  /** A session for a new member, not started: the roster starts it once its listeners are on. */
  createSession(member: Member, instanceId: string | null): PeerSession;
  /** Whether signaling lists `peerId` as a member now. */
  isMember(peerId: string): boolean;
}

export class PeerRoster extends TypedEmitter<RosterEvents> {
  private readonly sessions = new Map<string, PeerSession>();

  constructor(private readonly options: RosterOptions) {
    super();
  }

  get(peerId: string): PeerSession | undefined {
    return this.sessions.get(peerId);
  }

  all(): PeerSession[] {
    return [...this.sessions.values()];
  }

  /**
   * `to`'s session, or every session: also a peer waiting to rejoin under a new id, whose reliable
   * messages wait for it (or for it to be declared gone), as a reliable send promises.
   */
  targets(to: string | undefined): PeerSession[] {
    if (to === undefined) return this.all();
    const s = this.sessions.get(to);
    if (!s) throw new SdkError('unknown_peer', undefined, { peerId: to });
    return [s];
  }

  /** A member from a welcome or peer-joined: a known instance is re-keyed, an unknown one gets a session. */
  add(member: Member): PeerSession {
    const existing = this.sessions.get(member.peerId);
    if (existing) return existing;
    const instance = member.meta?.[INSTANCE_META_KEY];
    const instanceId = typeof instance === 'string' ? instance : null;
    const known = instanceId ? this.all().find((s) => s.instanceId === instanceId) : undefined;
    if (known) {
      const previousPeerId = known.peerId;
      this.sessions.delete(previousPeerId);
      if (known.orphanTimer !== null) this.options.clock.clearTimeout(known.orphanTimer);
      known.orphanTimer = null;
      this.sessions.set(member.peerId, known);
      known.rekey(member.peerId, member);
      this.emit('peer-rejoined', { peerId: member.peerId, previousPeerId });
      return known;
    }
    const session = this.options.createSession(member, instanceId);
    this.sessions.set(member.peerId, session);
    this.emit('peer-joined', { session });
    session.start();
    return session;
  }

  remove(peerId: string, reason: PeerLeftReason): void {
    const s = this.sessions.get(peerId);
    if (!s) return;
    this.sessions.delete(peerId);
    s.close();
    this.emit('peer-left', { peerId, reason });
  }

  /**
   * After signaling came back: `members` is the new welcome's list. On a resume the server kept our seat,
   * so a peer it no longer lists left; on a fresh rejoin a missing peer may still be on its way back.
   */
  reconcile(members: Member[], kind: 'resumed' | 'rejoined'): void {
    const present = new Set(members.map((m) => this.add(m).peerId));
    for (const s of this.all()) {
      if (present.has(s.peerId)) continue;
      if (kind === 'resumed') this.remove(s.peerId, 'disconnected');
      else this.orphan(s);
    }
    for (const s of this.all()) s.signalingRestored();
  }

  private orphan(s: PeerSession): void {
    if (s.orphanTimer !== null) return;
    s.orphanTimer = this.options.clock.setTimeout(() => {
      s.orphanTimer = null;
      if (this.sessions.get(s.peerId) === s && !this.options.isMember(s.peerId))
        this.remove(s.peerId, 'timeout');
    }, this.options.orphanGraceMs);
  }

  /** Idempotent: closes every session. */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}
