/**
 * Everything that crosses rooms or instances goes through this interface. The in-memory bus serves one
 * process; a Redis bus (later) moves the same operations between instances. The bus owns membership, the
 * mailboxes of peers that dropped and may resume, and resumable session records.
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

export interface RoomBus {
  /** Id of this instance; a Redis bus drops its own echoes by it. */
  readonly nodeId: string;
  /** Whether the bus can serve traffic (a remote bus reports false while its backend is down). */
  ready(): boolean;

  /** Add a member when the room has room; the answer lists the other members in join order. */
  join(room: string, member: Member, maxSize: number): Promise<JoinOutcome>;
  /** Remove a member and tell the others (`peer-left`); false when it was not a member. */
  leave(
    room: string,
    peerId: string,
    reason: 'left' | 'disconnected' | 'timeout' | 'kicked',
  ): Promise<boolean>;
  isMember(room: string, peerId: string): Promise<boolean>;
  roomCount(): number;

  /** Start delivering a peer's messages to `deliver`, first flushing what its mailbox held while away. */
  attach(peerId: string, deliver: Deliver): void;
  /**
   * Stop delivering to a peer that dropped but may resume: messages queue in its mailbox, at most
   * `maxQueued`; past that the oldest are discarded and `overflowed` reports it on attach.
   */
  suspend(peerId: string, maxQueued: number): void;
  /** Forget a peer's delivery and mailbox entirely. */
  detach(peerId: string): void;

  /** Deliver to one member of `room`; false when `peerId` is not a member of it. */
  sendTo(room: string, peerId: string, message: ServerMessage): Promise<boolean>;
  /** Deliver to every member of `room` except `exceptPeerId`. */
  broadcast(room: string, message: ServerMessage, exceptPeerId?: string): Promise<void>;

  saveSession(record: SessionRecord, ttlMs: number): Promise<void>;
  /** Take (and delete) a session record; null when unknown or expired. */
  takeSession(sessionId: string): Promise<SessionRecord | null>;

  close(): Promise<void>;
}
