/** The supervisor's kept revocations: validated, latest per user, pruned at `until`, bounded. */
import { describe, expect, it } from 'vitest';
import {
  KeptRevocations,
  MAX_KEPT_REVOCATIONS,
  parseRevocationChildMessage,
} from './supervised-revocations.js';

const revocation = (userId: string, revokedAt: number, until = revokedAt + 600) => ({
  userId,
  revokedAt,
  credentialsExpiringBy: revokedAt + 300,
  until,
  by: 'ops',
});
const revoked = (r: ReturnType<typeof revocation>) =>
  parseRevocationChildMessage({ type: 'signaling-revoked', revocation: r })!;
const request = parseRevocationChildMessage({ type: 'signaling-revocations-request' })!;

describe('kept revocations', () => {
  it('refuses malformed messages', () => {
    expect(parseRevocationChildMessage({ type: 'signaling-revoked' })).toBeNull();
    expect(
      parseRevocationChildMessage({ type: 'signaling-revoked', revocation: { ...revocation('a', 1), x: 1 } }),
    ).toBeNull();
    expect(
      parseRevocationChildMessage({ type: 'signaling-revoked', revocation: revocation('', 1) }),
    ).toBeNull();
    expect(parseRevocationChildMessage({ type: 'signaling-revocations-request', more: 1 })).toBeNull();
  });

  it('keeps the latest revocation of each user until it ends', () => {
    let now = 1000;
    const kept = new KeptRevocations(() => now);
    expect(kept.handle(revoked(revocation('mallory', 1000)))).toBeNull();
    kept.handle(revoked(revocation('mallory', 990)));
    kept.handle(revoked(revocation('eve', 1000, 1100)));
    expect(kept.handle(request)?.revocations.map((r) => [r.userId, r.revokedAt])).toEqual([
      ['mallory', 1000],
      ['eve', 1000],
    ]);
    now = 1100;
    expect(kept.handle(request)?.revocations.map((r) => r.userId)).toEqual(['mallory']);
  });

  it(`holds at most ${MAX_KEPT_REVOCATIONS} users, still updating those it holds`, () => {
    const kept = new KeptRevocations(() => 0);
    for (let i = 0; i <= MAX_KEPT_REVOCATIONS; i++) kept.handle(revoked(revocation(`u${i}`, 1)));
    const list = kept.handle(request)!.revocations;
    expect(list).toHaveLength(MAX_KEPT_REVOCATIONS);
    expect(list.some((r) => r.userId === `u${MAX_KEPT_REVOCATIONS}`)).toBe(false);
    kept.handle(revoked(revocation('u0', 5)));
    expect(kept.handle(request)!.revocations.find((r) => r.userId === 'u0')?.revokedAt).toBe(5);
  });
});
