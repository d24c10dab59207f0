/**
 * TURN REST API credentials, the form coturn's `use-auth-secret` verifies
 * (draft-uberti-behave-turn-rest-00 §2.2):
 *   username   = "<unix-expiry-seconds>:<user-id>"            (unscoped)
 *              | "<unix-expiry-seconds>:<user-id>:<room-tag>"  (bound to one room)
 *   credential = base64(HMAC-SHA1(secret, username))
 * The room tag is the room id in base64url without padding, so it has no ':' and the user id (which may
 * not contain one) ends at the second ':'. coturn reads only the expiry before the first ':' and signs the
 * whole username, so a room-bound credential works on coturn as an unscoped one; the bundled relay reads
 * the room and, with room scope on, grants permissions only toward that room's addresses.
 * Several secrets may be configured: the first signs, all verify, so a secret rotates without dropping calls.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TurnCredential {
  username: string;
  credential: string;
  /** Unix time in seconds after which a relay refuses new allocations with this credential. */
  expiresAt: number;
}

export interface MintOptions {
  /** Signing secret: the first of the configured TURN secrets. */
  secret: string;
  /** User id (JWT `sub`); may not contain ':' because the relay splits the username on the first ':'. */
  userId: string;
  /** Lifetime in seconds. */
  ttlSeconds: number;
  /** The room the credential is bound to (room-scoped relays check it); default none: unscoped. */
  room?: string | undefined;
  /** Clock in milliseconds since the epoch; injectable for tests. */
  now?: number;
}

/** HMAC-SHA1 of the username, base64: the long-term password the relay derives its key from. */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** RFC 8489 §14.3: USERNAME is fewer than 509 bytes. */
const MAX_USERNAME_BYTES = 508;

/** The room as a username carries it: base64url of its UTF-8, no padding (never a ':'). */
export function roomTag(room: string): string {
  return Buffer.from(room, 'utf8').toString('base64url');
}

/** The room a tag stands for; null unless the tag is exactly what {@link roomTag} makes of some room. */
function roomOfTag(tag: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(tag)) return null;
  const room = Buffer.from(tag, 'base64url').toString('utf8');
  return room.length > 0 && roomTag(room) === tag ? room : null;
}

export function mintTurnCredential({
  secret,
  userId,
  ttlSeconds,
  room,
  now = Date.now(),
}: MintOptions): TurnCredential {
  if (userId.includes(':')) throw new RangeError('TURN user id may not contain ":"');
  if (room === '')
    throw new RangeError('TURN room may not be empty (leave it out for an unscoped credential)');
  if (room !== undefined && userId === '')
    throw new RangeError('a room-bound TURN credential needs a user id');
  const expiresAt = Math.floor(now / 1000) + Math.max(1, Math.floor(ttlSeconds));
  const username = room === undefined ? `${expiresAt}:${userId}` : `${expiresAt}:${userId}:${roomTag(room)}`;
  if (Buffer.byteLength(username) > MAX_USERNAME_BYTES)
    throw new RangeError(`TURN username over ${MAX_USERNAME_BYTES} bytes: shorten the user id or room`);
  return { username, credential: turnPassword(secret, username), expiresAt };
}

export type CredentialCheck =
  | { ok: true; userId: string; expiresAt: number; room: string | undefined; secret: string }
  | { ok: false; reason: 'malformed' | 'expired' | 'forged' };

/**
 * Check a username/credential pair against every configured secret. Relays that only see the username
 * (long-term auth hashes the password into the key) use {@link parseTurnUsername} and {@link turnPassword}.
 */
export function verifyTurnCredential(
  username: string,
  credential: string,
  secrets: readonly string[],
  now: number = Date.now(),
): CredentialCheck {
  const parsed = parseTurnUsername(username);
  if (!parsed) return { ok: false, reason: 'malformed' };
  if (parsed.expiresAt * 1000 <= now) return { ok: false, reason: 'expired' };
  const given = Buffer.from(credential);
  for (const secret of secrets) {
    const expected = Buffer.from(turnPassword(secret, username));
    if (expected.length === given.length && timingSafeEqual(expected, given)) {
      return { ok: true, userId: parsed.userId, expiresAt: parsed.expiresAt, room: parsed.room, secret };
    }
  }
  return { ok: false, reason: 'forged' };
}

/**
 * Split "<expiry>:<user-id>[:<room-tag>]"; a bare "<expiry>" is the draft's form without a user id
 * (coturn accepts it, and turnutils_uclient -W sends it): its user id is empty, so such credentials share
 * one quota. Null when the expiry is not a positive integer, a colon is followed by nothing, or a third
 * part is not a room tag (nor a fourth part allowed): such a username is not one this platform mints.
 */
export function parseTurnUsername(
  username: string,
): { expiresAt: number; userId: string; room: string | undefined } | null {
  const [expiry = '', userId, tag, ...more] = username.split(':');
  if (!/^\d{1,12}$/.test(expiry) || userId === '' || more.length > 0) return null;
  if (tag === undefined) return { expiresAt: Number(expiry), userId: userId ?? '', room: undefined };
  const room = roomOfTag(tag);
  return room === null ? null : { expiresAt: Number(expiry), userId: userId!, room };
}
