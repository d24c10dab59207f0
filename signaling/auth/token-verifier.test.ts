import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { TokenVerifier, grantsRoom } from './token-verifier.js';

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
