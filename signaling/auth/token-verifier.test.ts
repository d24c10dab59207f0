import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { TokenVerifier, VerifiedTokenCache, grantsRoom } from './token-verifier.js';

const SECRET = 'a-secret-that-is-long-enough-for-hs256-0000';
const base = {
  key: SECRET,
  algorithms: ['HS256' as const],
  audience: 'aud-1',
  issuer: 'iss-1',
  clockSkewSec: 30,
};
const sign = (claims: object, opts: jwt.SignOptions = {}, key: jwt.Secret = SECRET) =>
  jwt.sign(claims, key, {
    algorithm: 'HS256',
    audience: 'aud-1',
    issuer: 'iss-1',
    subject: 'alice',
    expiresIn: 60,
    ...opts,
  });

const unsigned = (claims: object) =>
  `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

describe('TokenVerifier', () => {
  const verifier = new TokenVerifier(base);

  it('accepts a good token and reads sub, room and rooms', () => {
    const result = verifier.verify(sign({ room: 'a', rooms: ['b'] }));
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.grant.userId).toBe('alice');
    expect(grantsRoom(result.grant, 'a')).toBe(true);
    expect(grantsRoom(result.grant, 'b')).toBe(true);
    expect(grantsRoom(result.grant, 'c')).toBe(false);
  });

  it("treats rooms ['*'] as any room", () => {
    const result = verifier.verify(sign({ rooms: ['*'] }));
    expect(result.ok && grantsRoom(result.grant, 'anything')).toBe(true);
  });

  it.each([
    ['expired', () => sign({ room: 'a' }, { expiresIn: -120 })],
    ['not yet valid', () => sign({ room: 'a' }, { notBefore: 300 })],
    ['wrong audience', () => sign({ room: 'a' }, { audience: 'other' })],
    ['wrong issuer', () => sign({ room: 'a' }, { issuer: 'other' })],
    ['forged signature', () => sign({ room: 'a' }, {}, 'another-secret-another-secret-another-000')],
    [
      'alg none',
      () =>
        unsigned({
          sub: 'alice',
          room: 'a',
          aud: 'aud-1',
          iss: 'iss-1',
          exp: Math.floor(Date.now() / 1000) + 60,
        }),
    ],
    [
      'no exp',
      () =>
        jwt.sign({ room: 'a' }, SECRET, {
          algorithm: 'HS256',
          audience: 'aud-1',
          issuer: 'iss-1',
          subject: 'alice',
        }),
    ],
    ['no room grant', () => sign({})],
    ['garbage', () => 'not.a.token'],
  ])('refuses a token that is %s', (_name, make) => {
    expect(verifier.verify(make()).ok).toBe(false);
  });

  it('tolerates the configured clock skew and no more', () => {
    let now = Date.now();
    const skewed = new TokenVerifier({ ...base, now: () => now });
    const token = sign({ room: 'a' }, { expiresIn: 10 });
    now += 30_000; // 20 s past exp, within 30 s skew
    expect(skewed.verify(token).ok).toBe(true);
    now += 30_000; // 50 s past exp
    expect(skewed.verify(token).ok).toBe(false);
  });

  it('refuses HS256 tokens signed with the public key when verifying with RS256 (algorithm confusion)', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rs = new TokenVerifier({ ...base, key: pem, algorithms: ['RS256', 'ES256'] });
    const good = jwt.sign({ room: 'a' }, privateKey, {
      algorithm: 'RS256',
      audience: 'aud-1',
      issuer: 'iss-1',
      subject: 'bob',
      expiresIn: 60,
    });
    expect(rs.verify(good).ok).toBe(true);
    // The classic attack: sign HS256 with the public PEM as the HMAC secret.
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({
        sub: 'mallory',
        room: 'a',
        aud: 'aud-1',
        iss: 'iss-1',
        exp: Math.floor(Date.now() / 1000) + 60,
      }),
    ).toString('base64url');
    const sig = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    expect(rs.verify(`${header}.${payload}.${sig}`).ok).toBe(false);
  });
});

describe('the verified-token cache', () => {
  const T0 = 1_900_000_000;
  const at = (sec: number) => {
    const clock = { sec };
    return { clock, verifier: new TokenVerifier({ ...base, now: () => clock.sec * 1000, cacheSize: 3 }) };
  };
  const token = (claims: object = {}) =>
    jwt.sign({ room: 'a', iat: T0, exp: T0 + 60, ...claims }, SECRET, {
      algorithm: 'HS256',
      audience: 'aud-1',
      issuer: 'iss-1',
      subject: 'alice',
    });

  it('answers a token it verified with the same grant, and keeps only successes', () => {
    const { verifier } = at(T0);
    const good = token();
    const first = verifier.verify(good);
    expect(first.ok).toBe(true);
    expect(verifier.verify(good)).toEqual(first);
    // One character of the signature changed: verified afresh, refused, not remembered.
    const forged = `${good.slice(0, -2)}${good.endsWith('A') ? 'B' : 'A'}${good.slice(-1)}`;
    expect(verifier.verify(forged).ok).toBe(false);
    expect(verifier.verify(forged).ok).toBe(false);
  });

  it('stops answering at exp plus the skew, exactly where jsonwebtoken refuses', () => {
    const { clock, verifier } = at(T0);
    const good = token();
    expect(verifier.verify(good).ok).toBe(true);
    clock.sec = T0 + 60 + 30 - 1;
    expect(verifier.verify(good).ok).toBe(true);
    clock.sec = T0 + 60 + 30;
    expect(verifier.verify(good)).toMatchObject({ ok: false, reason: 'token expired' });
    // A fresh verifier (no cache) draws the line at the same second.
    const fresh = new TokenVerifier({ ...base, now: () => (T0 + 60 + 30 - 1) * 1000 });
    expect(fresh.verify(good).ok).toBe(true);
  });

  it('does not remember a token that is not valid yet (nbf), and takes it once it is', () => {
    const { clock, verifier } = at(T0);
    const later = token({ nbf: T0 + 100, exp: T0 + 600 });
    expect(verifier.verify(later)).toMatchObject({ ok: false, reason: 'token not yet valid' });
    clock.sec = T0 + 100;
    expect(verifier.verify(later).ok).toBe(true);
  });

  it('is per verifier, so another audience or key is never answered from it', () => {
    const { verifier } = at(T0);
    const good = token();
    expect(verifier.verify(good).ok).toBe(true);
    const other = new TokenVerifier({ ...base, audience: 'aud-2', now: () => T0 * 1000 });
    expect(other.verify(good).ok).toBe(false);
  });

  it('holds at most cacheSize entries, dropping the oldest; 0 keeps none', () => {
    const cache = new VerifiedTokenCache(2);
    const grant = { userId: 'u', rooms: '*' as const, expiresAt: T0 + 60 };
    cache.set('a', grant);
    cache.set('b', grant);
    cache.set('c', grant);
    expect(cache.size).toBe(2);
    expect(cache.get('a', T0, 0)).toBeNull();
    expect(cache.get('c', T0, 0)).toBe(grant);
    const off = new VerifiedTokenCache(0);
    off.set('a', grant);
    expect(off.size).toBe(0);
  });
});
