/**
 * Everything that crosses rooms or instances goes through this interface. The in-memory bus serves one
 * process; the Redis bus moves the same operations between instances. The bus owns membership, the
 * mailboxes of peers that dropped and may resume, resumable session records, the resume window, and the
 * list of revoked users.
 *
 * A seat is held by one session at a time. It is either attached (a live connection somewhere delivers its
 * frames) or suspended (it dropped; frames queue in its mailbox for the resume window, after which the bus
 * removes it with `peer-left` reason `timeout`). A resume re-seats the member under a new session: the
 * newest connection owns the seat, the previous holder is evicted (`replaced`), and nothing the previous
 * connection does afterwards (its drop, its leave) touches the seat, because every such call names the
 * session it holds.
 */
import type { Member } from '../protocol/index.js';
import type { Clock } from '../../common/clock.js';
import { toFrame, type Frame } from './frame.js';

export interface SessionRecord {
  sessionId: string;
  peerId: string;
  userId: string;
  room: string;
  meta?: Member['meta'];
}

export type JoinOutcome = { ok: true; members: Member[] } | { ok: false; reason: 'room_full' };
export type LeaveReason = 'left' | 'disconnected' | 'timeout' | 'kicked';
/** Why a connection lost its seat while still open: a newer connection resumed it, or an operator. */
export type EvictReason = 'replaced' | 'kicked';

/** The live connection holding a seat. */
export interface SeatHolder {
  deliver(frame: Frame): void;
  /** The seat is gone from under this connection; it must close (the bus has already updated the room). */
  evicted(reason: EvictReason): void;
}

/** A member as the admin API lists it. */
export interface SeatInfo {
  member: Member;
  /** Instance holding its connection; '' while suspended. */
  node: string;
  joinedAt: number;
}

/** A revoked user: connections closed everywhere, tokens issued before `revokedAt` refused until `until`. */
export interface Revocation {
  userId: string;
  /** Unix seconds. */
  revokedAt: number;
  /** Unix seconds: TURN credentials of this user expiring by then were handed out before the revocation. */
  credentialsExpiringBy: number;
  /** Unix seconds the record is kept (refusals end then). */
  until: number;
  /** Who revoked (the admin token's subject), for the log. */
  by: string;
}

export interface RoomBus {
  /** Id of this instance; a remote bus routes to it and drops its own echoes by it. */
  readonly nodeId: string;
  /** Whether the bus can serve traffic (a remote bus reports false while its backend is down). */
  ready(): boolean;

  /**
   * Add (or, on resume, re-seat) a member and record its resumable session. The member's frames start
   * queueing at once and flow to its holder after {@link attach}. A re-seat evicts the previous holder
   * (`replaced`), on whichever instance it is. Answers the other members in join order.
   */
  join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome>;
  /**
   * Remove a member and tell the others (`peer-left`); false when it was not a member. With `sessionId`,
   * only while that session holds the seat. With reason `timeout`, only while suspended past its window.
   * With reason `kicked`, a connection still holding the seat is evicted (`kicked`).
   */
  leave(room: string, peerId: string, reason: LeaveReason, sessionId?: string): Promise<boolean>;
  isMember(room: string, peerId: string): Promise<boolean>;
  /** Rooms with members on this instance. */
  roomCount(): number;

  /** Deliver a joined session's frames to `holder`, first flushing what its mailbox held. */
  attach(room: string, peerId: string, sessionId: string, holder: SeatHolder): Promise<void>;
  /**
   * The session's connection dropped: queue its frames (bounded) for the resume window, then remove it
   * with `peer-left` `timeout` unless it resumed. A no-op when `sessionId` no longer holds the seat.
   */
  suspend(room: string, peerId: string, sessionId: string): Promise<void>;

  /**
   * Replace a member's metadata while `sessionId` holds its seat, and tell the others (`member-updated`);
   * later joiners and a resume see it. Answers the updated member, or null when the session no longer
   * holds the seat.
   */
  updateMember(room: string, peerId: string, sessionId: string, meta: Member['meta']): Promise<Member | null>;

  /** Deliver to one member of `room`; false when `peerId` is not a member of it. */
  sendTo(room: string, peerId: string, frame: Frame): Promise<boolean>;
  /** Deliver to every member of `room` except `exceptPeerId`. */
  broadcast(room: string, frame: Frame, exceptPeerId?: string): Promise<void>;

  /** Take (and delete) a session record; null when unknown, expired, or its member is gone. */
  takeSession(sessionId: string): Promise<SessionRecord | null>;

  /** Every room with members, across instances (admin API). */
  rooms(): Promise<string[]>;
  /** Members of a room in join order, across instances (admin API). */
  members(room: string): Promise<SeatInfo[]>;

  /** Record a revocation and tell every instance (this one included) through {@link onRevoked}. */
  revoke(revocation: Revocation): Promise<void>;
  /** Revocations still in force, for an instance that starts after they were made. */
  revocations(): Promise<Revocation[]>;
  onRevoked(handler: (revocation: Revocation) => void): void;

  close(): Promise<void>;
}

export interface BusOptions {
  nodeId: string;
  /** How long a dropped member keeps its seat and session, ms. */
  resumeWindowMs: number;
  /** Frames kept for a suspended member; the oldest are discarded past this. */
  mailboxSize: number;
  clock?: Clock;
}

/** The frames a bus makes itself. */
export const peerJoinedFrame = (peer: Member): Frame => toFrame({ type: 'peer-joined', peer });
export const memberUpdatedFrame = (peer: Member): Frame => toFrame({ type: 'member-updated', peer });
export const peerLeftFrame = (peerId: string, reason: LeaveReason): Frame =>
  toFrame({ type: 'peer-left', peerId, reason });

/**
 * Hand one frame to a holder. A holder reports its own failures (the connection logs and counts them);
 * whatever escapes is contained here, so one frame that cannot be delivered never costs the ones queued
 * behind it.
 */
export function deliverSafely(holder: SeatHolder, frame: Frame): void {
  try {
    holder.deliver(frame);
  } catch {
    // Contained by design: see above.
  }
}
