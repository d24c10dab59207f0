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
}

/** What a verified token lets a connection do. */
export interface Grant {
  userId: string;
  /** Rooms the token grants; `'*'` means any. */
  rooms: ReadonlySet<string> | '*';
  /** Unix seconds the token expires. */
  expiresAt: number;
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
  })
  .refine((c) => c.room !== undefined || (c.rooms !== undefined && c.rooms.length > 0), {
    message: 'token grants no room (claim `room` or `rooms`)',
  });

export type VerifyResult = { ok: true; grant: Grant } | { ok: false; reason: string };

export class TokenVerifier {
  /**
   * The key parsed once: given a string, jsonwebtoken tries to parse it as a public key on every verify,
   * which was three quarters of the CPU of accepting a connection.
   */
  private readonly key: KeyObject;

  constructor(private readonly options: TokenVerifierOptions) {
    this.key = options.key.includes('-----BEGIN')
      ? createPublicKey(options.key)
      : createSecretKey(Buffer.from(options.key, 'utf8'));
  }

  verify(token: string): VerifyResult {
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
      return { ok: false, reason: err instanceof Error ? err.message : 'invalid token' };
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) return { ok: false, reason: claims.error.issues[0]?.message ?? 'bad claims' };
    const { sub, room, rooms = [], exp } = claims.data;
    const all = room ? [...rooms, room] : rooms;
    return {
      ok: true,
      grant: { userId: sub, rooms: all.includes('*') ? '*' : new Set(all), expiresAt: exp },
    };
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
}

/** Mint an HS256 client token: for the development token route and for tests, never for production auth. */
export function mintDevToken({ secret, userId, rooms, audience, issuer, ttlSec }: MintTokenOptions): string {
  return jwt.sign({ rooms }, secret, {
    algorithm: 'HS256',
    subject: userId,
    audience,
    issuer,
    expiresIn: ttlSec,
  });
}
