/**
 * How signaling commands the bundled relay: one small interface, and two ways to reach a relay with it.
 * In the same process it wraps a started relay ({@link inProcessRelayControl}); under `npm start`'s
 * supervisor signaling and the relay are separate processes, so the commands travel as
 * {@link RelayControlMessage}s over Node's IPC channels, signaling → supervisor → relay
 * ({@link ipcRelayControl} on the signaling side, {@link applyRelayControl} on the relay side). Every hop
 * validates what it receives with {@link parseRelayControlMessage}: a message's shape is never trusted.
 */
import { z } from 'zod';

export interface RelayControl {
  /**
   * Revoke a user on the relay: within a second every allocation of theirs (UDP, TCP, TLS) is torn down,
   * TCP/TLS client connections closed, and from then on any credential of theirs expiring at or before
   * `credentialsExpiringBy` (unix seconds) is refused with 401, as a bad credential is. Pass the latest
   * expiry of any credential already handed to the user (now + the TURN credential TTL); a credential
   * minted afterwards expires later and is accepted. The relay forgets the entry once that time passes.
   */
  revokeUser(userId: string, credentialsExpiringBy: number): void;
  /**
   * The IP addresses peers of `room` use, taken from the candidates (and SDP) signaling relays for them:
   * with room scope on, allocations made with credentials bound to `room` may be permitted toward them.
   * Announce again whenever new candidates pass; an address is kept an hour after its last announcement
   * (room-addresses.ts). Entries that are not IP literals (mDNS names) are ignored; at most
   * {@link MAX_ANNOUNCED_ADDRESSES} per call.
   */
  announceRoomAddresses(room: string, addresses: readonly string[]): void;
}

/** Addresses one announcement may carry; a longer list is split by the caller. */
export const MAX_ANNOUNCED_ADDRESSES = 64;

/** The largest unix time in seconds accepted (year 36812): keeps the figure an exact integer. */
const MAX_UNIX_SECONDS = 2 ** 40;
/** A user id as TURN usernames carry it: no ':' (the username's separator), bounded. */
const userId = z
  .string()
  .min(1)
  .max(256)
  .refine((s) => !s.includes(':'), 'a TURN user id has no ":"');

const revokeUser = z.strictObject({
  type: z.literal('relay-control'),
  op: z.literal('revoke-user'),
  userId,
  credentialsExpiringBy: z.number().int().min(0).max(MAX_UNIX_SECONDS),
});

const announceRoomAddresses = z.strictObject({
  type: z.literal('relay-control'),
  op: z.literal('announce-room-addresses'),
  room: z.string().min(1).max(256),
  // An IPv6 literal with a zone is at most 45 + a short zone; longer strings are not addresses.
  addresses: z.array(z.string().max(64)).max(MAX_ANNOUNCED_ADDRESSES),
});

const relayControlMessage = z.discriminatedUnion('op', [revokeUser, announceRoomAddresses]);

/** One command on the IPC channels between signaling, the supervisor and the relay child. */
export type RelayControlMessage = z.infer<typeof relayControlMessage>;

/** The message if `m` is a well-formed relay-control command, else null. */
export function parseRelayControlMessage(m: unknown): RelayControlMessage | null {
  const parsed = relayControlMessage.safeParse(m);
  return parsed.success ? parsed.data : null;
}

/** Whether `m` claims to be a relay-control command (well-formed or not): to route it, then validate. */
export function isRelayControlEnvelope(m: unknown): boolean {
  return (m as { type?: unknown } | null)?.type === 'relay-control';
}

/** Carry out a validated command on `control`. */
export function applyRelayControl(control: RelayControl, m: RelayControlMessage): void {
  switch (m.op) {
    case 'revoke-user':
      return control.revokeUser(m.userId, m.credentialsExpiringBy);
    case 'announce-room-addresses':
      return control.announceRoomAddresses(m.room, m.addresses);
    default: {
      const unknown: never = m;
      throw new Error(`unknown relay-control command ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * Control of a relay started in this process. Arguments are validated as an IPC message would be, so a
 * caller's mistake fails the same way in both deployments (a RangeError naming the problem).
 */
export function inProcessRelayControl(relay: RelayControl): RelayControl {
  const apply = (m: unknown) => {
    const parsed = parseRelayControlMessage(m);
    if (!parsed) throw new RangeError(`invalid relay-control command: ${JSON.stringify(m)}`);
    applyRelayControl(relay, parsed);
  };
  return {
    revokeUser: (userId, credentialsExpiringBy) =>
      apply({ type: 'relay-control', op: 'revoke-user', userId, credentialsExpiringBy }),
    announceRoomAddresses: (room, addresses) =>
      apply({ type: 'relay-control', op: 'announce-room-addresses', room, addresses: [...addresses] }),
  };
}

/**
 * Control of the bundled relay from the signaling child of `npm start`'s supervisor: each command is
 * validated here, then sent to the supervisor, which forwards it to the relay child. Commands sent while
 * the IPC channel is down (the supervisor is gone) are dropped and reported to `onDropped`.
 */
export function ipcRelayControl(
  channel: { send?: (m: unknown) => boolean; connected?: boolean } = process,
  onDropped: (m: RelayControlMessage) => void = () => undefined,
): RelayControl {
  const send = (m: RelayControlMessage) => {
    const parsed = parseRelayControlMessage(m);
    if (!parsed) throw new RangeError(`invalid relay-control command: ${JSON.stringify(m)}`);
    if (channel.send && channel.connected !== false) channel.send(parsed);
    else onDropped(parsed);
  };
  return {
    revokeUser: (userId, credentialsExpiringBy) =>
      send({ type: 'relay-control', op: 'revoke-user', userId, credentialsExpiringBy }),
    announceRoomAddresses: (room, addresses) =>
      send({ type: 'relay-control', op: 'announce-room-addresses', room, addresses: [...addresses] }),
  };
}
