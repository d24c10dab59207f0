import { describe, expect, it } from 'vitest';
import {
  mintTurnCredential,
  roomTag,
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

  it('binds a credential to a room as "<expiry>:<user>:<room-tag>", and parses it back', () => {
    const room = 'Café: team/1 ✓';
    const cred = mintTurnCredential({ secret: 's', userId: 'alice', ttlSeconds: 600, room, now: NOW });
    expect(cred.username).toBe(`${NOW / 1000 + 600}:alice:${roomTag(room)}`);
    expect(roomTag(room)).not.toContain(':');
    expect(parseTurnUsername(cred.username)).toEqual({ expiresAt: NOW / 1000 + 600, userId: 'alice', room });
    expect(verifyTurnCredential(cred.username, cred.credential, ['s'], NOW)).toMatchObject({
      ok: true,
      room,
    });
    // coturn signs the whole username: the room cannot be changed without the secret.
    const moved = cred.username.replace(roomTag(room), roomTag('other'));
    expect(verifyTurnCredential(moved, cred.credential, ['s'], NOW)).toMatchObject({ reason: 'forged' });
    expect(parseTurnUsername('1700000600:alice')?.room).toBeUndefined();
  });

  it('refuses room tags it would not mint, and rooms it cannot carry', () => {
    for (const username of [
      '1700000600:alice:',
      '1700000600::cm9vbQ',
      '1700000600:alice:cm9vbQ==',
      '1700000600:alice:cm9vbQ:x',
      '1700000600:alice:r!',
      '1700000600:alice:cm9vbR', // not canonical: decodes to "room" but re-encodes otherwise
    ])
      expect(parseTurnUsername(username)).toBeNull();
    expect(() => mintTurnCredential({ secret: 's', userId: 'a', ttlSeconds: 60, room: '' })).toThrow(
      RangeError,
    );
    expect(() => mintTurnCredential({ secret: 's', userId: '', ttlSeconds: 60, room: 'r' })).toThrow(
      RangeError,
    );
    expect(() =>
      mintTurnCredential({ secret: 's', userId: 'a', ttlSeconds: 60, room: 'r'.repeat(400) }),
    ).toThrow(RangeError);
  });
});
