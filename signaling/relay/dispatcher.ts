/**
 * What each valid client message does: join (fresh or resumed), leave, relay of signals and fallback data
 * to members of the same room with `from` stamped here, TURN credential refresh, ping. Messages of one
 * connection are handled strictly in order.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ProtocolError,
  assertNever,
  type ClientMessage,
  type Member,
  type ServerMessageOf,
} from '../protocol/index.js';
import { grantsRoom } from '../auth/token-verifier.js';
import type { ClientConnection } from '../connection/client-connection.js';
import type { RoomBus } from '../rooms/room-bus.js';
import type { SignalingMetrics } from '../metrics.js';
import type { IceServerGrant, RelayHint } from './ice-servers.js';

type JoinMessage = Extract<ClientMessage, { type: 'join' }>;

export interface DispatcherOptions {
  bus: RoomBus;
  roomSize: number;
  resumeWindowMs: number;
  limits: ServerMessageOf<'welcome'>['limits'];
  /** Relays for this user, ordered for the client's hint, with freshly minted credentials. */
  iceServers: (userId: string, hint: RelayHint) => IceServerGrant;
  metrics: SignalingMetrics;
  log: Logger;
}

const newId = (bytes: number) => randomBytes(bytes).toString('base64url');
const reply = (id: ClientMessage['id']) => (id !== undefined ? { replyTo: id } : {});

export class Dispatcher {
  private readonly chains = new WeakMap<ClientConnection, Promise<void>>();
  /** Peers that dropped from this instance and may still resume: peerId → timer that ends their seat. */
  private readonly awaitingResume = new Map<string, NodeJS.Timeout>();

  constructor(private readonly options: DispatcherOptions) {}

  /** Queue a message behind the connection's earlier ones. */
  dispatch(conn: ClientConnection, message: ClientMessage): void {
    const previous = this.chains.get(conn) ?? Promise.resolve();
    const next = previous
      .then(() => this.handle(conn, message))
      .catch((err: unknown) => conn.reportFailure(err, message.id));
    this.chains.set(conn, next);
  }

  private async handle(conn: ClientConnection, message: ClientMessage): Promise<void> {
    const { bus } = this.options;
    switch (message.type) {
      case 'join':
        return this.join(conn, message);
      case 'leave': {
        const membership = this.requireMembership(conn);
        conn.membership = null;
        await bus.leave(membership.room, membership.peerId, 'left');
        conn.send({ type: 'left', ...reply(message.id) });
        return;
      }
      case 'signal': {
        const { room, peerId } = this.requireMembership(conn);
        if (message.to === peerId) throw new ProtocolError('not_in_room', 'Cannot signal yourself');
        if (!(await bus.sendTo(room, message.to, { type: 'signal', from: peerId, signal: message.signal }))) {
          throw new ProtocolError('not_in_room', `Peer ${message.to} is not in room`);
        }
        return;
      }
      case 'data': {
        const { room, peerId } = this.requireMembership(conn);
        const { payload, binary, channel, seq } = message;
        const out: ServerMessageOf<'data'> = { type: 'data', from: peerId, payload, binary, channel, seq };
        if (message.to === undefined) return bus.broadcast(room, out, peerId);
        if (message.to === peerId || !(await bus.sendTo(room, message.to, out))) {
          throw new ProtocolError('not_in_room', `Peer ${message.to} is not in room`);
        }
        return;
      }
      case 'turn-credentials': {
        const grant = this.options.iceServers(conn.grant.userId, conn.relayHint);
        conn.send({
          type: 'turn-credentials',
          iceServers: grant.iceServers,
          iceServersExpireAt: grant.expiresAt,
          ...reply(message.id),
        });
        return;
      }
      case 'ping':
        conn.send({
          type: 'pong',
          ...reply(message.id),
          ...(message.t !== undefined ? { t: message.t } : {}),
        });
        return;
      default:
        assertNever(message);
    }
  }

  private async join(conn: ClientConnection, message: JoinMessage): Promise<void> {
    const { bus, roomSize } = this.options;
    if (conn.membership) throw new ProtocolError('already_joined');
    if (!grantsRoom(conn.grant, message.room)) throw new ProtocolError('forbidden_room');
    const member: Member = {
      peerId: newId(12),
      userId: conn.grant.userId,
      ...(message.meta ? { meta: message.meta } : {}),
    };
    let resumed = false;
    if (message.resume) {
      const record = await bus.takeSession(message.resume.sessionId);
      const valid =
        record !== null &&
        record.peerId === message.resume.peerId &&
        record.userId === conn.grant.userId &&
        record.room === message.room;
      this.options.metrics.resumes.inc({ outcome: valid ? 'resumed' : 'expired' });
      if (!valid) throw new ProtocolError('session_expired');
      member.peerId = record.peerId;
      if (record.meta && !message.meta) member.meta = record.meta;
      clearTimeout(this.awaitingResume.get(record.peerId));
      this.awaitingResume.delete(record.peerId);
      resumed = true;
    }
    const sessionId = newId(18);
    const session = {
      sessionId,
      peerId: member.peerId,
      userId: member.userId,
      room: message.room,
      ...(member.meta ? { meta: member.meta } : {}),
    };
    const outcome = await bus.join(message.room, member, roomSize, session);
    if (!outcome.ok) throw new ProtocolError('room_full');
    conn.membership = { room: message.room, peerId: member.peerId, sessionId };
    const ice = this.options.iceServers(conn.grant.userId, conn.relayHint);
    // The welcome goes out before anything queued for the peer, which attach then flushes.
    conn.send({
      type: 'welcome',
      ...reply(message.id),
      room: message.room,
      peerId: member.peerId,
      sessionId,
      resumed,
      members: outcome.members,
      iceServers: ice.iceServers,
      iceServersExpireAt: ice.expiresAt,
      limits: this.options.limits,
    });
    await bus.attach(message.room, member.peerId, (m) => conn.send(m));
  }

  /**
   * The connection is gone. A clean leave frees the seat now; a drop keeps it for the resume window with
   * signals queued, and only when the window passes do the others hear `peer-left`.
   */
  async disconnected(conn: ClientConnection): Promise<void> {
    await this.chains.get(conn);
    const membership = conn.membership;
    if (!membership) return;
    conn.membership = null;
    const { bus, resumeWindowMs } = this.options;
    if (conn.leftCleanly || resumeWindowMs === 0) {
      await bus.leave(membership.room, membership.peerId, conn.leftCleanly ? 'left' : 'disconnected');
      return;
    }
    await bus.suspend(membership.room, membership.peerId);
    const timer = setTimeout(() => {
      this.awaitingResume.delete(membership.peerId);
      bus
        .leave(membership.room, membership.peerId, 'timeout')
        .catch((err: unknown) => this.options.log.error({ err }, 'resume expiry failed'));
    }, resumeWindowMs);
    timer.unref();
    this.awaitingResume.set(membership.peerId, timer);
  }

  close(): void {
    for (const timer of this.awaitingResume.values()) clearTimeout(timer);
    this.awaitingResume.clear();
  }

  private requireMembership(conn: ClientConnection) {
    if (!conn.membership) throw new ProtocolError('not_in_room', 'Join a room first');
    return conn.membership;
  }
}
