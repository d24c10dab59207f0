import { describe, expect, it } from 'vitest';
import {
  mintTurnCredential,
  parseTurnUsername,
  turnPassword,
  verifyTurnCredential,
} from './rest-credentials.js';

const NOW = 1_700_000_000_000;

describe('TURN REST API credentials', () => {
  it('derives the password as base64(HMAC-SHA1(secret, username)), as coturn does', () => {
    // Vector from an independent implementation: openssl dgst -sha1 -hmac s3cret -binary | base64
    expect(turnPassword('s3cret', '1700000000:alice')).toBe('TtElzSjT0GdnTQ9xdcRNxx96yQs=');
  });

  it('mints "<expiry>:<user>" and verifies it under any configured secret', () => {
    const cred = mintTurnCredential({ secret: 'new', userId: 'alice', ttlSeconds: 600, now: NOW });
    expect(cred.username).toBe(`${NOW / 1000 + 600}:alice`);
    expect(verifyTurnCredential(cred.username, cred.credential, ['new', 'old'], NOW)).toMatchObject({
      ok: true,
      userId: 'alice',
      secret: 'new',
    });
    const old = mintTurnCredential({ secret: 'old', userId: 'bob', ttlSeconds: 600, now: NOW });
    expect(verifyTurnCredential(old.username, old.credential, ['new', 'old'], NOW)).toMatchObject({
      ok: true,
    });
  });

  it('refuses expired, forged and malformed credentials', () => {
    const cred = mintTurnCredential({ secret: 's', userId: 'alice', ttlSeconds: 60, now: NOW });
    expect(verifyTurnCredential(cred.username, cred.credential, ['s'], NOW + 61_000)).toEqual({
      ok: false,
      reason: 'expired',
    });
    expect(verifyTurnCredential(cred.username, cred.credential, ['other'], NOW)).toEqual({
      ok: false,
      reason: 'forged',
    });
    for (const username of ['alice', '__proto__', ':alice', '12x:alice', '1700000000:', '1234567890123:a'])
      expect(verifyTurnCredential(username, 'x', ['s'], NOW)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('refuses a user id with ":" at minting, since the relay splits on the first one', () => {
    expect(() => mintTurnCredential({ secret: 's', userId: 'a:b', ttlSeconds: 60 })).toThrow(RangeError);
  });

  it('accepts the bare "<expiry>" form with an empty user id', () => {
    expect(parseTurnUsername('1700000600')).toEqual({ expiresAt: 1_700_000_600, userId: '' });
    expect(parseTurnUsername('1700000600:alice')).toEqual({ expiresAt: 1_700_000_600, userId: 'alice' });
  });
});
