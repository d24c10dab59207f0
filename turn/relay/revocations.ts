/**
 * Users whose TURN credentials the relay no longer accepts: the one owner of a revocation's life. A
 * revocation of a user holds a cutoff (unix seconds): every credential of that user expiring at or before
 * it is refused, and one minted later (expiring after it) is accepted. Once the cutoff has passed every
 * credential it covered has expired and is refused by its expiry anyway, so the entry is forgotten: the
 * table never holds more than the users revoked within one credential lifetime.
 */
export class Revocations {
  /** Cutoff by user id, unix seconds. */
  private readonly cutoffs = new Map<string, number>();

  /** `now`: clock in milliseconds. */
  constructor(private readonly now: () => number) {}

  /** Refuse `userId`'s credentials expiring at or before `credentialsExpiringBy` (unix seconds). */
  revoke(userId: string, credentialsExpiringBy: number): void {
    if (credentialsExpiringBy * 1000 <= this.now()) return;
    const held = this.cutoffs.get(userId) ?? 0;
    // A second revocation never shortens the first.
    this.cutoffs.set(userId, Math.max(held, credentialsExpiringBy));
  }

  /** Whether a credential of `userId` expiring at `expiresAt` (unix seconds) is revoked. */
  refuses(userId: string, expiresAt: number): boolean {
    const cutoff = this.cutoffs.get(userId);
    if (cutoff === undefined) return false;
    if (cutoff * 1000 <= this.now()) {
      this.cutoffs.delete(userId);
      return false;
    }
    return expiresAt <= cutoff;
  }

  /** Forget revocations whose cutoff has passed. */
  sweep(now: number): void {
    for (const [user, cutoff] of this.cutoffs) if (cutoff * 1000 <= now) this.cutoffs.delete(user);
  }

  get size(): number {
    return this.cutoffs.size;
  }
}
