/**
 * What each valid client message does: join (fresh or resumed), leave, relay of signals and fallback data
 * to members of the same room with `from` stamped here, token renewal, TURN credential refresh, ping.
 * Messages of one connection are handled strictly in order. Every frame for other peers is serialized
 * once, here, before the bus carries it, so whatever was accepted can be delivered.
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
import { grantsRoom, type VerifyResult } from '../auth/token-verifier.js';
import type { ClientConnection } from '../connection/client-connection.js';
import { toFrame } from '../rooms/frame.js';
import type { EvictReason, RoomBus } from '../rooms/room-bus.js';
import type { SignalingMetrics } from '../metrics.js';
import type { IceRequest, IceServerGrant } from '../ice/ice-servers.js';
import { addressesInSignal } from '../ice/signal-addresses.js';

type JoinMessage = Extract<ClientMessage, { type: 'join' }>;
type RefreshMessage = Extract<ClientMessage, { type: 'refresh-token' }>;

export interface DispatcherOptions {
  bus: RoomBus;
  roomSize: number;
  /** 0: a dropped peer leaves at once; otherwise the bus keeps its seat this long. */
  resumeWindowMs: number;
  limits: ServerMessageOf<'welcome'>['limits'];
  /** Relays for this user, ordered for the client's hint, with freshly minted credentials. */
  iceServers: (request: IceRequest) => IceServerGrant;
  /**
   * Told the addresses each relayed signal announces (its candidates), so a room-scoped relay lets the
   * room's allocations reach them; absent when no relay listens.
   */
  announceAddresses?: (room: string, addresses: string[]) => void;
  /** Verify a token handed over an open connection (`refresh-token`), revocations included. */
  verifyToken: (token: string) => VerifyResult;
  metrics: SignalingMetrics;
  log: Logger;
}

const newId = (bytes: number) => randomBytes(bytes).toString('base64url');
const reply = (id: ClientMessage['id']) => (id !== undefined ? { replyTo: id } : {});

export class Dispatcher {
  private readonly chains = new WeakMap<ClientConnection, Promise<void>>();

  constructor(private readonly options: DispatcherOptions) {}

  /**
   * Queue a message behind the connection's earlier ones. `arrivedAt` (`performance.now()` ms, default
   * now) starts the relay time of a signal, so the queue behind the sender's earlier messages is in it.
   */
  dispatch(conn: ClientConnection, message: ClientMessage, arrivedAt = performance.now()): void {
    const previous = this.chains.get(conn) ?? Promise.resolve();
    const next = previous
      .then(() => this.handle(conn, message, arrivedAt))
      .catch((err: unknown) => conn.reportFailure(err, message.id));
    this.chains.set(conn, next);
  }

  private async handle(conn: ClientConnection, message: ClientMessage, arrivedAt: number): Promise<void> {
    const { bus } = this.options;
    switch (message.type) {
      case 'join':
        return this.join(conn, message);
      case 'leave': {
        const membership = this.requireMembership(conn);
        conn.membership = null;
        await bus.leave(membership.room, membership.peerId, 'left', membership.sessionId);
        conn.send({ type: 'left', ...reply(message.id) });
        return;
      }
      case 'signal': {
        const { room, peerId } = this.requireMembership(conn);
        if (message.to === peerId) throw new ProtocolError('not_in_room', 'Cannot signal yourself');
        const frame = toFrame({ type: 'signal', from: peerId, signal: message.signal });
        if (!(await bus.sendTo(room, message.to, frame))) {
          throw new ProtocolError('not_in_room', `Peer ${message.to} is not in room`);
        }
        // Handed over: on one instance written to the recipient's socket, with Redis published.
        this.options.metrics.signalRelay.observe((performance.now() - arrivedAt) / 1000);
        const announce = this.options.announceAddresses;
        if (announce) {
          const addresses = addressesInSignal(message.signal);
          if (addresses.length > 0) announce(room, addresses);
        }
        return;
      }
      case 'data': {
        const { room, peerId } = this.requireMembership(conn);
        const { payload, binary, channel, seq } = message;
        const frame = toFrame({ type: 'data', from: peerId, payload, binary, channel, seq });
        if (message.to === undefined) return bus.broadcast(room, frame, peerId);
        if (message.to === peerId || !(await bus.sendTo(room, message.to, frame))) {
          throw new ProtocolError('not_in_room', `Peer ${message.to} is not in room`);
        }
        return;
      }
      case 'update-metadata': {
        const { room, peerId, sessionId } = this.requireMembership(conn);
        const peer = await bus.updateMember(room, peerId, sessionId, message.meta);
        if (!peer) throw new ProtocolError('not_in_room', 'This connection no longer holds its seat');
        conn.send({ type: 'member-updated', peer, ...reply(message.id) });
        return;
      }
      case 'turn-credentials': {
        // Credentials are bound to the room the connection is in: outside one there is nothing to relay.
        const grant = this.ice(conn, this.requireMembership(conn).room);
        conn.send({
          type: 'turn-credentials',
          iceServers: grant.iceServers,
          iceServersExpireAt: grant.expiresAt,
          ...reply(message.id),
        });
        return;
      }
      case 'refresh-token':
        return this.refreshToken(conn, message);
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

  private ice(conn: ClientConnection, room: string): IceServerGrant {
    return this.options.iceServers({
      userId: conn.grant.userId,
      hint: conn.relayHint,
      notAfter: conn.grant.expiresAt,
      room,
    });
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
    // On resume this re-seats the member, and the bus evicts whichever connection held it before.
    const outcome = await bus.join(message.room, member, roomSize, session);
    if (!outcome.ok) throw new ProtocolError('room_full');
    const membership = { room: message.room, peerId: member.peerId, sessionId };
    conn.membership = membership;
    const ice = this.ice(conn, message.room);
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
      tokenExpiresAt: conn.grant.expiresAt,
      limits: this.options.limits,
    });
    await bus.attach(message.room, member.peerId, sessionId, {
      deliver: (frame) => conn.sendFrame(frame),
      evicted: (reason) => this.evicted(conn, membership.sessionId, reason),
    });
  }

  /** A fresh token over the open socket: same user, and it must still grant the room we are in. */
  private refreshToken(conn: ClientConnection, message: RefreshMessage): void {
    const verified = this.options.verifyToken(message.token);
    if (!verified.ok) throw new ProtocolError('unauthorized', verified.reason);
    if (verified.grant.userId !== conn.grant.userId)
      throw new ProtocolError('unauthorized', 'token is for another user');
    if (conn.membership && !grantsRoom(verified.grant, conn.membership.room))
      throw new ProtocolError('forbidden_room', 'token does not grant the room this connection is in');
    conn.renewGrant(verified.grant);
    conn.send({ type: 'token-refreshed', expiresAt: verified.grant.expiresAt, ...reply(message.id) });
  }

  /** The bus took the seat from this connection; close it unless it already moved on. */
  private evicted(conn: ClientConnection, sessionId: string, reason: EvictReason): void {
    if (conn.membership?.sessionId !== sessionId) return;
    conn.membership = null;
    this.options.log.info({ peer: conn.grant.userId, reason }, 'seat taken from a live connection');
    conn.fail(reason === 'replaced' ? 'session_replaced' : 'kicked');
  }

  /**
   * The connection is gone. A clean leave frees the seat now; a drop keeps it for the resume window
   * (the bus's), with frames queued. Either only while this connection's session still holds the seat.
   */
  async disconnected(conn: ClientConnection): Promise<void> {
    await this.chains.get(conn);
    const membership = conn.membership;
    if (!membership) return;
    conn.membership = null;
    const { bus, resumeWindowMs } = this.options;
    const { room, peerId, sessionId } = membership;
    if (conn.leftCleanly || resumeWindowMs === 0) {
      await bus.leave(room, peerId, conn.leftCleanly ? 'left' : 'disconnected', sessionId);
      return;
    }
    await bus.suspend(room, peerId, sessionId);
  }

  private requireMembership(conn: ClientConnection) {
    if (!conn.membership) throw new ProtocolError('not_in_room', 'Join a room first');
    return conn.membership;
  }
}
