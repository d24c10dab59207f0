/**
 * Long-term credential auth (RFC 8489 §9.2) with TURN REST API usernames only, and stateless nonces: a
 * nonce is its own expiry plus an HMAC over that expiry and the client's address, so the relay stores
 * nothing for an unauthenticated request and any relay sharing the key accepts it.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseTurnUsername, turnPassword } from '../credentials/rest-credentials.js';
import {
  Attr,
  StunClass,
  encodeUnknownAttributes,
  getText,
  unknownRequired,
  verifyIntegrity,
  type StunMessage,
  type StunWriter,
} from '../stun/message.js';

/** RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`).digest();
}

export class NonceIssuer {
  private readonly key: Buffer;

  constructor(
    /** Seconds a nonce stays valid; a stale one gets 438 and the client retries with a fresh one. */
    private readonly lifetimeSec: number,
    private readonly now: () => number,
    key?: Buffer,
  ) {
    this.key = key ?? randomBytes(32);
  }

  issue(clientAddress: string): string {
    const expiry = Math.floor(this.now() / 1000) + this.lifetimeSec;
    const hex = expiry.toString(16).padStart(10, '0');
    return hex + this.mac(hex, clientAddress);
  }

  valid(nonce: string, clientAddress: string): boolean {
    if (nonce.length !== 42) return false;
    const hex = nonce.slice(0, 10);
    if (!/^[0-9a-f]{10}$/.test(hex)) return false;
    if (parseInt(hex, 16) * 1000 <= this.now()) return false;
    const given = Buffer.from(nonce.slice(10), 'utf8');
    const expected = Buffer.from(this.mac(hex, clientAddress), 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(hex: string, clientAddress: string): string {
    return createHmac('sha256', this.key).update(`${hex}|${clientAddress}`).digest('hex').slice(0, 32);
  }
}

export type AuthResult =
  | {
      ok: true;
      username: string;
      userId: string;
      expiresAt: number;
      /** The room the credential is bound to; undefined for an unscoped one. */
      room: string | undefined;
      key: Buffer;
    }
  | { ok: false; code: 400 | 401 | 438; reason: string };

/**
 * Verify a request signed with a REST credential. `checkExpiry` is true for Allocate only: like coturn,
 * the expiry in the username gates new allocations, while refreshes of a live allocation keep working
 * past it so a call never drops at the credential's TTL.
 */
export function authenticate(
  message: StunMessage,
  fields: { username: string | undefined; realm: string | undefined; nonce: string | undefined },
  options: {
    realm: string;
    secrets: readonly string[];
    nonces: NonceIssuer;
    clientAddress: string;
    checkExpiry: boolean;
    now: number;
    /**
     * Whether this user's credential expiring at `expiresAt` (unix seconds) is revoked: then it gets 401
     * as a bad credential would, for every method, so a client asks its application for a new one.
     */
    revoked?: (userId: string, expiresAt: number) => boolean;
  },
): AuthResult {
  if (message.integrityOffset < 0) return { ok: false, code: 401, reason: 'Unauthorized' };
  const { username, realm, nonce } = fields;
  if (username === undefined || realm === undefined || nonce === undefined)
    return { ok: false, code: 400, reason: 'Bad Request' };
  if (!options.nonces.valid(nonce, options.clientAddress))
    return { ok: false, code: 438, reason: 'Stale Nonce' };
  if (realm !== options.realm) return { ok: false, code: 401, reason: 'Unauthorized' };
  const parsed = parseTurnUsername(username);
  if (!parsed) return { ok: false, code: 401, reason: 'Unauthorized' };
  if (options.checkExpiry && parsed.expiresAt * 1000 <= options.now)
    return { ok: false, code: 401, reason: 'Unauthorized' };
  for (const secret of options.secrets) {
    const key = longTermKey(username, realm, turnPassword(secret, username));
    if (!verifyIntegrity(message, key)) continue;
    if (options.revoked?.(parsed.userId, parsed.expiresAt))
      return { ok: false, code: 401, reason: 'Unauthorized' };
    const { userId, expiresAt, room } = parsed;
    return { ok: true, username, userId, expiresAt, room, key };
  }
  return { ok: false, code: 401, reason: 'Unauthorized' };
}

/** Answer the request being handled: class, attributes, and the key to sign with (none for 401/438). */
export type ReplyFn = (cls: StunClass, build: (w: StunWriter) => void, key?: Buffer) => void;

/**
 * Authenticate a request; on failure answer as RFC 8489 §9.2.4 says (401 and 438 carry REALM and a fresh
 * NONCE) and return the error code. Also answers 420 for unknown comprehension-required attributes, which
 * RFC 8489 §6.3.1 checks once authentication is done.
 */
export function authorize(
  m: StunMessage,
  reply: ReplyFn,
  options: Parameters<typeof authenticate>[2],
): (AuthResult & { ok: true }) | number {
  const result = authenticate(
    m,
    { username: getText(m, Attr.username), realm: getText(m, Attr.realm), nonce: getText(m, Attr.nonce) },
    options,
  );
  if (!result.ok) {
    reply(StunClass.error, (w) => {
      w.addError(result.code, result.reason);
      if (result.code !== 400)
        w.addText(Attr.realm, options.realm).addText(Attr.nonce, options.nonces.issue(options.clientAddress));
    });
    return result.code;
  }
  const unknown = unknownRequired(m);
  if (unknown.length > 0) {
    reply(
      StunClass.error,
      (w) =>
        w.addError(420, 'Unknown Attribute').add(Attr.unknownAttributes, encodeUnknownAttributes(unknown)),
      result.key,
    );
    return 420;
  }
  return result;
}
