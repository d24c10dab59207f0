/**
 * What instances say to each other through Redis, as one validated schema: a frame for peers of a room
 * attached to an instance, an eviction of a seat's holder there, and a revocation for every instance.
 * Whatever arrives on a channel is parsed with these before it is acted on, never cast. A deliver message
 * is written by the routing script (`redis-scripts.ts`) from a head this process builds with
 * {@link deliverHead}, so both writers stay on this one shape.
 */
import { z } from 'zod';
import { roomNameSchema, serverMessageSchema, type ServerMessageType } from '../protocol/index.js';
import type { Frame } from './frame.js';

const id = z.string().min(1).max(128);

export const nodeMessageSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('deliver'),
      /** The room the targets are members of (their mailboxes are the room's). */
      room: roomNameSchema,
      to: z.array(id).min(1).max(4096),
      /** A packed frame (`frame.ts`). */
      frame: z.string(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('evict'),
      room: roomNameSchema,
      peerId: id,
      sessionId: id,
      reason: z.enum(['replaced', 'kicked']),
    })
    .strict(),
]);
export type NodeMessage = z.infer<typeof nodeMessageSchema>;

export const revocationSchema = z
  .object({
    userId: z.string().min(1).max(256),
    revokedAt: z.number().int().nonnegative(),
    credentialsExpiringBy: z.number().int().nonnegative(),
    until: z.number().int().nonnegative(),
    by: z.string().max(256),
  })
  .strict();

/**
 * The JSON of a deliver message up to its `to` list, without the closing brace: the routing script appends
 * `,"to":[…]}` per instance, with peer ids that need no escaping (`[A-Za-z0-9_-]`).
 */
export function deliverHead(room: string, packedFrame: string): string {
  const head = JSON.stringify({ kind: 'deliver', room, frame: packedFrame });
  return head.slice(0, -1);
}

const serverTypes = new Set<string>(serverMessageSchema.options.map((o) => o.shape.type.value));

/** A frame as one line of text (`<type> <json>`), for mailboxes and envelopes outside the process. */
export function packFrame(frame: Frame): string {
  return `${frame.type} ${frame.json}`;
}

/** The inverse of {@link packFrame}; null when the text is not a packed frame of a known type. */
export function unpackFrame(text: string): Frame | null {
  const space = text.indexOf(' ');
  const type = text.slice(0, space);
  if (space <= 0 || !serverTypes.has(type)) return null;
  return { type: type as ServerMessageType, json: text.slice(space + 1) };
}

/** Parse JSON text with a schema; null when either fails. */
export function parseWith<T>(schema: z.ZodType<T>, text: string): T | null {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
