/**
 * Everything that crosses rooms or instances goes through this interface. The in-memory bus serves one
 * process; the Redis bus moves the same operations between instances. The bus owns membership, the
 * mailboxes of peers that dropped and may resume, and resumable session records.
 *
 * A member is either attached (a live connection somewhere delivers its messages) or suspended (it
 * dropped; messages queue in its mailbox for the resume window, after which it is removed with
 * `peer-left` reason `timeout`).
 */
import type { Member, ServerMessage } from '../protocol/index.js';

export type Deliver = (message: ServerMessage) => void;

export interface SessionRecord {
  sessionId: string;
  peerId: string;
  userId: string;
  room: string;
  meta?: Member['meta'];
}

export type JoinOutcome = { ok: true; members: Member[] } | { ok: false; reason: 'room_full' };
export type LeaveReason = 'left' | 'disconnected' | 'timeout' | 'kicked';

export interface RoomBus {
  /** Id of this instance; a remote bus routes to it and drops its own echoes by it. */
  readonly nodeId: string;
  /** Whether the bus can serve traffic (a remote bus reports false while its backend is down). */
  ready(): boolean;

  /**
   * Add (or, on resume, re-seat) a member and record its resumable session. The member's messages start
   * queueing at once and flow to `deliver` after {@link attach}. Answers the other members in join order.
   */
  join(room: string, member: Member, maxSize: number, session: SessionRecord): Promise<JoinOutcome>;
  /**
   * Remove a member and tell the others (`peer-left`); false when it was not a member. With reason
   * `timeout` the member is removed only while suspended, so a peer that resumed meanwhile keeps its seat.
   */
  leave(room: string, peerId: string, reason: LeaveReason): Promise<boolean>;
  isMember(room: string, peerId: string): Promise<boolean>;
  /** Rooms with members on this instance. */
  roomCount(): number;

  /** Deliver a joined peer's messages to `deliver`, first flushing what its mailbox held. */
  attach(room: string, peerId: string, deliver: Deliver): Promise<void>;
  /** The peer dropped: queue its messages (bounded) for the resume window; its session stays resumable. */
  suspend(room: string, peerId: string): Promise<void>;

  /** Deliver to one member of `room`; false when `peerId` is not a member of it. */
  sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean>;
  /** Deliver to every member of `room` except `exceptPeerId`. */
  broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void>;

  /** Take (and delete) a session record; null when unknown, expired, or its member is gone. */
  takeSession(sessionId: string): Promise<SessionRecord | null>;

  close(): Promise<void>;
}

export interface BusOptions {
  nodeId: string;
  /** How long a dropped member keeps its seat and session, ms. */
  resumeWindowMs: number;
  /** Messages kept for a suspended member; the oldest are discarded past this. */
  mailboxSize: number;
  now?: () => number;
}
