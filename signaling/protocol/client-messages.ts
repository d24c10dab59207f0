/**
 * Client → server frames. One schema per message type, gathered in one discriminated union; the server
 * validates every inbound frame with it and the SDK builds frames typed from it.
 */
import { z } from 'zod';
import { peerIdSchema, requestIdSchema, roomNameSchema, sessionIdSchema } from './ids.js';

/**
 * The one open-ended value a signal carries (simple-peer's transceiver init): plain JSON, at most
 * {@link JSON_MAX_DEPTH} levels and {@link JSON_MAX_KEYS} keys and items in all, so nothing accepted can
 * be too deep to serialize or expensive to walk.
 */
export const JSON_MAX_DEPTH = 4;
export const JSON_MAX_KEYS = 64;
const boundedJsonObject = z
  .record(z.string().max(64), z.unknown())
  .refine((value) => jsonWithin(value, JSON_MAX_DEPTH, { left: JSON_MAX_KEYS }), {
    message: `must be plain JSON at most ${JSON_MAX_DEPTH} deep with at most ${JSON_MAX_KEYS} keys`,
  });

function jsonWithin(value: unknown, depth: number, budget: { left: number }): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || depth === 0) return false;
  const items = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  if ((budget.left -= items.length) < 0) return false;
  return items.every((item) => jsonWithin(item, depth - 1, budget));
}

/** Bounded string sizes: SDP is large but finite; candidates are small. */
const SDP_MAX = 48 * 1024;
const CANDIDATE_MAX = 1024;

/** What `simple-peer` (and any WebRTC app) exchanges; the server checks shape and size, never SDP contents. */
export const signalPayloadSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('offer'), sdp: z.string().max(SDP_MAX) }).strict(),
  z.object({ type: z.literal('answer'), sdp: z.string().max(SDP_MAX) }).strict(),
  z.object({ type: z.literal('pranswer'), sdp: z.string().max(SDP_MAX) }).strict(),
  z.object({ type: z.literal('rollback'), sdp: z.string().max(SDP_MAX).optional() }).strict(),
  z
    .object({
      type: z.literal('candidate'),
      candidate: z
        .object({
          candidate: z.string().max(CANDIDATE_MAX),
          sdpMid: z.string().max(64).nullish(),
          sdpMLineIndex: z.number().int().min(0).max(1024).nullish(),
          usernameFragment: z.string().max(256).nullish(),
        })
        .strict(),
    })
    .strict(),
  /** simple-peer asks the initiator to renegotiate (the non-initiator wants to add tracks). */
  z.object({ type: z.literal('renegotiate'), renegotiate: z.literal(true) }).strict(),
  /** simple-peer asks the initiator to add a transceiver of a kind. */
  z
    .object({
      type: z.literal('transceiverRequest'),
      transceiverRequest: z
        .object({
          kind: z.enum(['audio', 'video']),
          init: boundedJsonObject.optional(),
        })
        .strict(),
    })
    .strict(),
]);
export type SignalPayload = z.infer<typeof signalPayloadSchema>;

/** Free-form application metadata shown to other members (display name and the like); small. */
export const memberMetaSchema = z.record(
  z.string().max(64),
  z.union([z.string().max(256), z.number(), z.boolean()]),
);

export const joinMessage = z
  .object({
    type: z.literal('join'),
    id: requestIdSchema.optional(),
    room: roomNameSchema,
    meta: memberMetaSchema.optional(),
    /** Resume a session after a reconnect: same peer id, replayed signals. */
    resume: z.object({ sessionId: sessionIdSchema, peerId: peerIdSchema }).strict().optional(),
  })
  .strict();

export const leaveMessage = z.object({ type: z.literal('leave'), id: requestIdSchema.optional() }).strict();

export const signalMessage = z
  .object({
    type: z.literal('signal'),
    id: requestIdSchema.optional(),
    to: peerIdSchema,
    signal: signalPayloadSchema,
  })
  .strict();

/** Application data carried over signaling when P2P fails (the SDK's WebSocket fallback path). */
export const dataMessage = z
  .object({
    type: z.literal('data'),
    id: requestIdSchema.optional(),
    /** Target peer; omitted means every other member of the room. */
    to: peerIdSchema.optional(),
    /** Application payload: a string, or base64 for binary when `binary` is true. */
    payload: z.string(),
    binary: z.boolean().optional(),
    /** Channel label, so apps can separate streams (e.g. 'game', 'chat'). */
    channel: z.string().max(64).optional(),
    /** Sender's sequence number, for de-duplication across path switches. */
    seq: z.number().int().nonnegative().safe().optional(),
  })
  .strict();

/**
 * Replace this member's metadata after joining (a display name changed, a hand raised): the others get
 * `member-updated`, later joiners see it in `welcome`, and a resume keeps it. Answered with
 * `member-updated` for the sender itself.
 */
export const updateMetadataMessage = z
  .object({ type: z.literal('update-metadata'), id: requestIdSchema.optional(), meta: memberMetaSchema })
  .strict();

/** Ask for fresh ICE servers and TURN credentials before the current ones expire. */
export const turnCredentialsRequest = z
  .object({ type: z.literal('turn-credentials'), id: requestIdSchema.optional() })
  .strict();

/**
 * A fresh token for this connection, sent before the current one expires: the connection's grant becomes
 * the new token's (same user; it must still grant the room the connection is in). Without one, the
 * connection is closed with `token_expired` when its token expires.
 */
export const refreshTokenMessage = z
  .object({ type: z.literal('refresh-token'), id: requestIdSchema.optional(), token: z.string().max(8192) })
  .strict();

/** Application-level keepalive for clients that cannot see WebSocket pings (browsers). */
export const pingMessage = z
  .object({ type: z.literal('ping'), id: requestIdSchema.optional(), t: z.number().optional() })
  .strict();

export const clientMessageSchema = z.discriminatedUnion('type', [
  joinMessage,
  leaveMessage,
  signalMessage,
  dataMessage,
  updateMetadataMessage,
  turnCredentialsRequest,
  refreshTokenMessage,
  pingMessage,
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ClientMessageType = ClientMessage['type'];
export const clientMessageTypes = clientMessageSchema.options.map((o) => o.shape.type.value);
