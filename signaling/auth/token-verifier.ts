/**
 * Client JWT verification, done during the HTTP upgrade. The algorithm list is pinned to the key's kind
 * (HS256 for a secret; RS256/ES256 for a public key), so `alg: none` and HS/RS confusion are refused.
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { roomNameSchema } from '../protocol/index.js';

export interface TokenVerifierOptions {
  key: string;
  algorithms: Array<'HS256' | 'RS256' | 'ES256'>;
  audience: string;
  issuer: string;
  /** Tolerated clock skew for exp/nbf, seconds. */
  clockSkewSec: number;
  /** Clock in ms, injectable for tests. */
  now?: () => number;
  /**
   * Verified tokens remembered, so a client that reconnects with the token it has (a resume, a flaky
   * network) skips the signature check: entries. Default 10 000; 0 turns the cache off. See
   * {@link VerifiedTokenCache} for what a hit still checks.
   */
  cacheSize?: number;
}

/** What a verified token lets a connection do. */
export interface Grant {
  userId: string;
  /** Rooms the token grants; `'*'` means any. */
  rooms: ReadonlySet<string> | '*';
  /** Unix seconds the token expires. */
  expiresAt: number;
  /** Unix seconds the token was issued (`iat`), when it says; revocations refuse tokens issued before. */
  issuedAt?: number;
}

const claimsSchema = z
  .object({
    sub: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^\u0000-\u001f\u007f]+$/),
    room: roomNameSchema.optional(),
    rooms: z
      .array(z.union([roomNameSchema, z.literal('*')]))
      .max(256)
      .optional(),
    exp: z.number(),
    iat: z.number().optional(),
  })
  .refine((c) => c.room !== undefined || (c.rooms !== undefined && c.rooms.length > 0), {
    message: 'token grants no room (claim `room` or `rooms`)',
  });

/**
 * `reason` is safe to show the client: it says what is wrong without echoing configuration (the expected
 * audience or issuer); `detail` is the library's full message, for the server's log only.
 */
const adminClaimsSchema = z.object({ sub: z.string().min(1).max(256), admin: z.literal(true) });

export type VerifyResult = { ok: true; grant: Grant } | { ok: false; reason: string; detail: string };

/** jsonwebtoken's messages, mapped to what a client may be told. */
function publicReason(err: unknown): string {
  const name = err instanceof Error ? err.name : '';
  const message = err instanceof Error ? err.message : '';
  if (name === 'TokenExpiredError') return 'token expired';
  if (name === 'NotBeforeError') return 'token not yet valid';
  if (message.startsWith('jwt audience invalid')) return 'token audience not accepted';
  if (message.startsWith('jwt issuer invalid')) return 'token issuer not accepted';
  if (message === 'invalid signature') return 'invalid signature';
  if (message.includes('algorithm')) return 'token algorithm not accepted';
  if (message === 'jwt malformed' || message.includes('jwt must be')) return 'malformed token';
  return 'invalid token';
}

export class TokenVerifier {
  /**
   * The key parsed once: given a string, jsonwebtoken tries to parse it as a public key on every verify,
   * which was three quarters of the CPU of accepting a connection.
   */
  private readonly key: KeyObject;

  private readonly cache: VerifiedTokenCache;

  constructor(private readonly options: TokenVerifierOptions) {
    this.key = options.key.includes('-----BEGIN')
      ? createPublicKey(options.key)
      : createSecretKey(Buffer.from(options.key, 'utf8'));
    this.cache = new VerifiedTokenCache(options.cacheSize ?? DEFAULT_TOKEN_CACHE_SIZE);
  }

  /**
   * Verify a client token. Revocations are not this method's: callers ask `Revocations` after every
   * verification, cached or not, so a cached token of a revoked user is refused like any other.
   */
  verify(token: string): VerifyResult {
    const { clockSkewSec, now = Date.now } = this.options;
    const nowSec = Math.floor(now() / 1000);
    const cached = this.cache.get(token, nowSec, clockSkewSec);
    if (cached) return { ok: true, grant: cached };
    const result = this.verifyUncached(token);
    if (result.ok) this.cache.set(token, result.grant);
    return result;
  }

  private verifyUncached(token: string): VerifyResult {
    const payload = this.payload(token);
    if (!payload.ok) return payload;
    const claims = claimsSchema.safeParse(payload.claims);
    if (!claims.success) {
      const reason = claims.error.issues[0]?.message ?? 'bad claims';
      return { ok: false, reason, detail: reason };
    }
    const { sub, room, rooms = [], exp, iat } = claims.data;
    const all = room ? [...rooms, room] : rooms;
    return {
      ok: true,
      grant: {
        userId: sub,
        rooms: all.includes('*') ? '*' : new Set(all),
        expiresAt: exp,
        ...(iat !== undefined ? { issuedAt: iat } : {}),
      },
    };
  }

  /** An operator's token for the admin API: verified like any other, and it must carry `admin: true`. */
  verifyAdmin(token: string): { ok: true; subject: string } | { ok: false; reason: string; detail: string } {
    const payload = this.payload(token);
    if (!payload.ok) return payload;
    const claims = adminClaimsSchema.safeParse(payload.claims);
    if (!claims.success) return { ok: false, reason: 'not an admin token', detail: 'admin claim missing' };
    return { ok: true, subject: claims.data.sub };
  }

  private payload(
    token: string,
  ): { ok: true; claims: unknown } | { ok: false; reason: string; detail: string } {
    const { algorithms, audience, issuer, clockSkewSec, now = Date.now } = this.options;
    let payload: unknown;
    try {
      payload = jwt.verify(token, this.key, {
        algorithms,
        audience,
        issuer,
        clockTolerance: clockSkewSec,
        clockTimestamp: Math.floor(now() / 1000),
        // exp is mandatory: a token that never expires is a password.
        ignoreExpiration: false,
      });
    } catch (err) {
      return { ok: false, reason: publicReason(err), detail: err instanceof Error ? err.message : 'invalid' };
    }
    return { ok: true, claims: payload };
  }
}

/** Entries of the verified-token cache by default. */
export const DEFAULT_TOKEN_CACHE_SIZE = 10_000;

/**
 * Tokens that verified, with their grants, keyed by the whole token text (so the header, the claims and
 * the signature all have to be the very bytes that verified). Only successes are kept, and a hit is
 * answered only while the token has not expired by the same rule jsonwebtoken applies (`exp` plus the
 * tolerated skew, checked against the clock at every hit). The audience, issuer, algorithms and key are
 * the verifier's own and never change under its cache; `nbf` had passed when the token verified and stays
 * passed. Bounded: past `maxEntries` the oldest entry goes.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Grant>();

  constructor(private readonly maxEntries: number) {}

  get(token: string, nowSec: number, clockSkewSec: number): Grant | null {
    const grant = this.entries.get(token);
    if (!grant) return null;
    if (nowSec >= grant.expiresAt + clockSkewSec) {
      this.entries.delete(token);
      return null;
    }
    return grant;
  }

  set(token: string, grant: Grant): void {
    if (this.maxEntries <= 0) return;
    this.entries.delete(token);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, grant);
  }

  get size(): number {
    return this.entries.size;
  }
}

export function grantsRoom(grant: Grant, room: string): boolean {
  return grant.rooms === '*' || grant.rooms.has(room);
}

export interface MintTokenOptions {
  secret: string;
  userId: string;
  rooms: string[];
  audience: string;
  issuer: string;
  ttlSec: number;
  /** Unix seconds the token says it was issued (default: now); tests on an injected clock set it. */
  issuedAt?: number;
  /** More claims (tests: `admin: true`). */
  claims?: Record<string, unknown>;
}

/** Mint an HS256 client token: for the development token route and for tests, never for production auth. */
export function mintDevToken({
  secret,
  userId,
  rooms,
  audience,
  issuer,
  ttlSec,
  issuedAt,
  claims = {},
}: MintTokenOptions): string {
  return jwt.sign({ ...claims, rooms, ...(issuedAt !== undefined ? { iat: issuedAt } : {}) }, secret, {
    algorithm: 'HS256',
    subject: userId,
    audience,
    issuer,
    expiresIn: ttlSec,
  });
}
