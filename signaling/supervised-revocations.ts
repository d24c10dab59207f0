/**
 * Revocations that outlive a signaling restart under `npm start`'s supervisor. Without Redis the room bus
 * is in memory, so a restarted signaling child would start with no revoked users and accept a revoked
 * user's unexpired token again. The supervisor outlives its children, so it keeps the list: the child
 * reports each revocation it hears, and a (re)started child asks for the list before it serves.
 * With Redis the bus holds revocations itself and none of this runs.
 *
 * Every hop validates what it receives: a message's shape is never trusted.
 */
import { z } from 'zod';
import { revocationSchema } from './rooms/bus-messages.js';
import type { Revocation } from './rooms/room-bus.js';

/** Kept by the supervisor, replayed to a started child: more is refused (an admin API is not a flood). */
export const MAX_KEPT_REVOCATIONS = 10_000;

const revokedMessage = z.strictObject({
  type: z.literal('signaling-revoked'),
  revocation: revocationSchema,
});
const listRequest = z.strictObject({ type: z.literal('signaling-revocations-request') });
const listReply = z.strictObject({
  type: z.literal('signaling-revocations'),
  revocations: z.array(revocationSchema).max(MAX_KEPT_REVOCATIONS),
});
const childMessage = z.discriminatedUnion('type', [revokedMessage, listRequest]);

/** What a signaling child tells the supervisor about revocations. */
export type RevocationChildMessage = z.infer<typeof childMessage>;

/** Whether `m` claims to be one of ours (well-formed or not): to route it, then validate. */
export function isRevocationEnvelope(m: unknown): boolean {
  const type = (m as { type?: unknown } | null)?.type;
  return type === 'signaling-revoked' || type === 'signaling-revocations-request';
}

/** The message if `m` is a well-formed child → supervisor revocation message, else null. */
export function parseRevocationChildMessage(m: unknown): RevocationChildMessage | null {
  const parsed = childMessage.safeParse(m);
  return parsed.success ? parsed.data : null;
}

/**
 * The supervisor's side: the latest revocation of each user until its `until` passes. One owner: the
 * children only report and ask.
 */
export class KeptRevocations {
  private readonly byUser = new Map<string, Revocation>();

  constructor(private readonly nowSec: () => number = () => Date.now() / 1000) {}

  /** Handle one validated child message; returns the reply to send, if any. */
  handle(m: RevocationChildMessage): z.infer<typeof listReply> | null {
    if (m.type === 'signaling-revocations-request') {
      this.prune();
      return { type: 'signaling-revocations', revocations: [...this.byUser.values()] };
    }
    const known = this.byUser.get(m.revocation.userId);
    if (known && known.revokedAt > m.revocation.revokedAt) return null;
    if (!known && this.byUser.size >= MAX_KEPT_REVOCATIONS) {
      this.prune();
      if (this.byUser.size >= MAX_KEPT_REVOCATIONS) return null;
    }
    this.byUser.set(m.revocation.userId, m.revocation);
    return null;
  }

  private prune(): void {
    const now = this.nowSec();
    for (const [userId, r] of this.byUser) if (r.until <= now) this.byUser.delete(userId);
  }
}

/**
 * The child's side, before it serves: the supervisor's kept list (waiting at most `timeoutMs`; a
 * supervisor that never answers leaves it empty, as before).
 */
export async function fetchKeptRevocations(timeoutMs = 2_000): Promise<Revocation[]> {
  if (!process.send || !process.connected) return [];
  return new Promise<Revocation[]>((resolve) => {
    const done = (list: Revocation[]) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(list);
    };
    const onMessage = (m: unknown) => {
      const parsed = listReply.safeParse(m);
      if (parsed.success) done(parsed.data.revocations);
    };
    const timer = setTimeout(() => done([]), timeoutMs);
    process.on('message', onMessage);
    process.send?.({ type: 'signaling-revocations-request' });
  });
}

/** The child's side, once seeded: report every revocation it hears to the supervisor. */
export function reportRevocations(onRevoked: (handler: (r: Revocation) => void) => void): void {
  onRevoked((revocation) => {
    if (process.connected) process.send?.({ type: 'signaling-revoked', revocation });
  });
}
