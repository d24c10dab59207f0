/**
 * TURN REST API credentials, the form coturn's `use-auth-secret` verifies
 * (draft-uberti-behave-turn-rest-00 §2.2):
 *   username   = "<unix-expiry-seconds>:<user-id>"
 *   credential = base64(HMAC-SHA1(secret, username))
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
  /** Clock in milliseconds since the epoch; injectable for tests. */
  now?: number;
}

/** HMAC-SHA1 of the username, base64: the long-term password the relay derives its key from. */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

export function mintTurnCredential({
  secret,
  userId,
  ttlSeconds,
  now = Date.now(),
}: MintOptions): TurnCredential {
  if (userId.includes(':')) throw new RangeError('TURN user id may not contain ":"');
  const expiresAt = Math.floor(now / 1000) + Math.max(1, Math.floor(ttlSeconds));
  const username = `${expiresAt}:${userId}`;
  return { username, credential: turnPassword(secret, username), expiresAt };
}

export type CredentialCheck =
  | { ok: true; userId: string; expiresAt: number; secret: string }
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
      return { ok: true, userId: parsed.userId, expiresAt: parsed.expiresAt, secret };
    }
  }
  return { ok: false, reason: 'forged' };
}

/**
 * Split "<expiry>:<user-id>"; a bare "<expiry>" is the draft's form without a user id (coturn accepts it,
 * and turnutils_uclient -W sends it): its user id is empty, so such credentials share one quota. Null when
 * the expiry is not a positive integer or a colon is followed by nothing.
 */
export function parseTurnUsername(username: string): { expiresAt: number; userId: string } | null {
  const colon = username.indexOf(':');
  const expiry = colon < 0 ? username : username.slice(0, colon);
  const userId = colon < 0 ? '' : username.slice(colon + 1);
  if (!/^\d{1,12}$/.test(expiry) || (colon >= 0 && userId.length === 0)) return null;
  return { expiresAt: Number(expiry), userId };
}
