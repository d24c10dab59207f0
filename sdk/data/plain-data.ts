/**
 * Application data to a peer that does not run this SDK (`signaling/PROTOCOL-PEERS.md`): as is, on the
 * data channel named by the message's channel (`data` when none is named), or, while no link is up, in
 * a plain signaling `data` frame paced by the room's gate. No numbering, no acks: the remote knows none.
 */
import type { ClientMessage } from '../../signaling/protocol/light/index.js';
import type { Link } from '../peer/link.js';
import { decodePayload, type EncodedPayload } from './frames.js';

/** The data channel label app data to a plain peer takes when no channel is named. */
export const PLAIN_DEFAULT_CHANNEL = 'data';

export function sendPlain(
  payload: EncodedPayload,
  reliable: boolean,
  to: string,
  link: Link | null,
  signaling: { send(message: ClientMessage): boolean } | null,
  gate: { tryTake(): boolean },
): boolean {
  if (link?.connected)
    return link.sendApp(payload.channel ?? PLAIN_DEFAULT_CHANNEL, decodePayload(payload), reliable);
  if (!signaling || !gate.tryTake()) return false;
  return signaling.send({
    type: 'data',
    to,
    payload: payload.payload,
    ...(payload.binary && { binary: true }),
    ...(payload.channel !== undefined && { channel: payload.channel }),
  });
}
