/**
 * This instance's view of revoked users, fed by the bus (every instance hears every revocation) and
 * loaded from it at start. The upgrade and `refresh-token` ask it whether a token is still good.
 */
import type { Clock } from '../../common/clock.js';
import type { Revocation } from '../rooms/room-bus.js';

export class Revocations {
  private readonly byUser = new Map<string, Revocation>();

  constructor(private readonly clock: Clock) {}

  add(revocation: Revocation): void {
    const known = this.byUser.get(revocation.userId);
    if (!known || known.revokedAt <= revocation.revokedAt) this.byUser.set(revocation.userId, revocation);
  }

  /**
   * Whether a token of `userId` issued at `issuedAt` (unix seconds; undefined when the token carries no
   * `iat`) is refused: every token issued up to the revocation's second, until the revocation ends.
   */
  refuses(userId: string, issuedAt: number | undefined): boolean {
    const revocation = this.byUser.get(userId);
    if (!revocation) return false;
    if (revocation.until * 1000 <= this.clock.now()) {
      this.byUser.delete(userId);
      return false;
    }
    return issuedAt === undefined || issuedAt <= revocation.revokedAt;
  }

  get size(): number {
    return this.byUser.size;
  }
}
