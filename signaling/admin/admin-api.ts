/**
 * The admin API: list rooms and members, kick a peer, close a room, revoke a user. It listens on its own
 * port (ADMIN_PORT, on 127.0.0.1 unless ADMIN_HOST says otherwise), never on the public one, and every
 * request carries a JWT with the claim `admin: true` (same secret or key, audience and issuer as client
 * tokens). Every action is logged with the admin token's subject.
 *
 * Routes (JSON):
 *   GET    /admin/v1/rooms                      → { rooms: [{ room, members }] }
 *   GET    /admin/v1/rooms/{room}               → { room, members: [{ peerId, userId, meta?, node, suspended, joinedAt }] }
 *   POST   /admin/v1/rooms/{room}/kick          { peerId } → { kicked }
 *   DELETE /admin/v1/rooms/{room}               → { closed }  (every member kicked)
 *   POST   /admin/v1/users/{user}/revoke        → { revocation }
 * A kick or a revocation reaches the peer's connection on whichever instance holds it (through the bus).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Clock } from '../../common/clock.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { refuse } from '../http-routes.js';
import { peerIdSchema, roomNameSchema } from '../protocol/index.js';
import type { Revocation, RoomBus } from '../rooms/room-bus.js';

export interface AdminContext {
  bus: RoomBus;
  verifier: TokenVerifier;
  clock: Clock;
  /** Lifetime of the TURN credentials signaling hands out, s: a revocation refuses those handed out before. */
  credentialTtlSec: number;
  log: Logger;
}

/** Tokens issued before a revocation are refused for at least this long (and the credentials' lifetime). */
export const REVOCATION_HOLD_SEC = 24 * 3600;
const BODY_MAX_BYTES = 4096;
const kickBody = z.object({ peerId: peerIdSchema }).strict();
const userIdSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\u0000-\u001f\u007f]+$/);

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_MAX_BYTES) throw new RangeError('body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

export async function handleAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: AdminContext,
): Promise<void> {
  const auth = req.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  if (!token) return refuse(res, 'unauthorized', 'Bearer token required');
  const verified = ctx.verifier.verifyAdmin(token);
  if (!verified.ok) {
    return verified.reason === 'not an admin token'
      ? refuse(res, 'forbidden', 'token has no admin grant')
      : refuse(res, 'unauthorized', verified.reason);
  }
  const admin = verified.subject;
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'admin' || parts[1] !== 'v1') return refuse(res, 'not_found');
  const [, , collection, name, action] = parts;
  const method = req.method ?? 'GET';
  const { bus, log } = ctx;

  if (collection === 'rooms' && name === undefined && method === 'GET') {
    const rooms = await Promise.all(
      (await bus.rooms()).map(async (room) => ({ room, members: (await bus.members(room)).length })),
    );
    return send(res, 200, { rooms });
  }
  if (collection === 'rooms' && name !== undefined) {
    if (!roomNameSchema.safeParse(name).success) return refuse(res, 'bad_request', 'not a room name');
    if (action === undefined && method === 'GET') {
      const members = (await bus.members(name)).map((s) => ({
        ...s.member,
        node: s.node,
        suspended: s.node === '',
        joinedAt: s.joinedAt,
      }));
      return send(res, 200, { room: name, members });
    }
    if (action === 'kick' && method === 'POST') {
      const body = kickBody.safeParse(await readJson(req).catch(() => null));
      if (!body.success) return refuse(res, 'bad_request', 'body must be { "peerId": "…" }');
      const kicked = await bus.leave(name, body.data.peerId, 'kicked');
      log.warn({ admin, action: 'kick', room: name, peer: body.data.peerId, kicked }, 'admin action');
      return send(res, 200, { kicked });
    }
    if (action === undefined && method === 'DELETE') {
      let closed = 0;
      for (const seat of await bus.members(name))
        if (await bus.leave(name, seat.member.peerId, 'kicked')) closed++;
      log.warn({ admin, action: 'close-room', room: name, closed }, 'admin action');
      return send(res, 200, { closed });
    }
  }
  if (collection === 'users' && name !== undefined && action === 'revoke' && method === 'POST') {
    if (!userIdSchema.safeParse(name).success) return refuse(res, 'bad_request', 'not a user id');
    const revokedAt = Math.floor(ctx.clock.now() / 1000);
    const credentialsExpiringBy = revokedAt + ctx.credentialTtlSec;
    const revocation: Revocation = {
      userId: name,
      revokedAt,
      credentialsExpiringBy,
      until: Math.max(credentialsExpiringBy, revokedAt + REVOCATION_HOLD_SEC),
      by: admin,
    };
    await bus.revoke(revocation);
    log.warn({ admin, action: 'revoke', user: name, until: revocation.until }, 'admin action');
    return send(res, 200, { revocation });
  }
  return refuse(res, 'not_found');
}
