/** Server → client frames: one union, the SDK narrows on `type`. */
import { z } from 'zod';
import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import { peerIdSchema, requestIdSchema, roomNameSchema } from './ids.js';
import { memberMetaSchema, signalPayloadSchema } from './client-messages.js';

/** An RTCIceServer as browsers and @roamhq/wrtc accept it. */
export const iceServerSchema = z
  .object({
    urls: z.union([z.string(), z.array(z.string())]),
    username: z.string().optional(),
    credential: z.string().optional(),
  })
  .strict();
export type IceServer = z.infer<typeof iceServerSchema>;

export const memberSchema = z
  .object({ peerId: peerIdSchema, userId: z.string(), meta: memberMetaSchema.optional() })
  .strict();
export type Member = z.infer<typeof memberSchema>;

export const welcomeMessage = z
  .object({
    type: z.literal('welcome'),
    replyTo: requestIdSchema.optional(),
    room: roomNameSchema,
    peerId: peerIdSchema,
    sessionId: z.string(),
    /** True when this join resumed an earlier session (same peer id). */
    resumed: z.boolean(),
    /** Other members, in join order. */
    members: z.array(memberSchema),
    iceServers: z.array(iceServerSchema),
    /** Unix seconds when the TURN credentials in `iceServers` stop being accepted for new allocations. */
    iceServersExpireAt: z.number().int(),
    /** Unix seconds the connection's token expires: send `refresh-token` before then. */
    tokenExpiresAt: z.number().int(),
    limits: z
      .object({
        maxMessageBytes: z.number().int(),
        roomSize: z.number().int(),
        ratePerSecond: z.number(),
        resumeWindowMs: z.number().int(),
      })
      .strict(),
  })
  .strict();

export const peerJoinedMessage = z.object({ type: z.literal('peer-joined'), peer: memberSchema }).strict();

/** A member replaced its metadata (`update-metadata`); also the answer to the member that did. */
export const memberUpdatedMessage = z
  .object({ type: z.literal('member-updated'), replyTo: requestIdSchema.optional(), peer: memberSchema })
  .strict();

export const peerLeftReasons = ['left', 'disconnected', 'timeout', 'kicked'] as const;
export const peerLeftMessage = z
  .object({ type: z.literal('peer-left'), peerId: peerIdSchema, reason: z.enum(peerLeftReasons) })
  .strict();

export const serverSignalMessage = z
  .object({ type: z.literal('signal'), from: peerIdSchema, signal: signalPayloadSchema })
  .strict();

export const serverDataMessage = z
  .object({
    type: z.literal('data'),
    from: peerIdSchema,
    payload: z.string(),
    binary: z.boolean().optional(),
    channel: z.string().optional(),
    seq: z.number().int().optional(),
  })
  .strict();

export const leftMessage = z
  .object({ type: z.literal('left'), replyTo: requestIdSchema.optional() })
  .strict();

export const turnCredentialsMessage = z
  .object({
    type: z.literal('turn-credentials'),
    replyTo: requestIdSchema.optional(),
    iceServers: z.array(iceServerSchema),
    iceServersExpireAt: z.number().int(),
  })
  .strict();

/** The connection's grant now comes from the token of `refresh-token`, valid until `expiresAt`. */
export const tokenRefreshedMessage = z
  .object({
    type: z.literal('token-refreshed'),
    replyTo: requestIdSchema.optional(),
    /** Unix seconds: the connection is closed (`token_expired`) then unless another refresh comes. */
    expiresAt: z.number().int(),
  })
  .strict();

export const pongMessage = z
  .object({ type: z.literal('pong'), replyTo: requestIdSchema.optional(), t: z.number().optional() })
  .strict();

/**
 * The server is going away (drain or restart): reconnect, resuming the session, after `afterMs`. A drain
 * gives each client its own `afterMs` over a window (DRAIN_SPREAD_MS), so its clients reach the other
 * instances under their admission rate; the client may stay on this connection until then.
 */
export const reconnectMessage = z
  .object({
    type: z.literal('reconnect'),
    reason: z.enum(['draining', 'restart']),
    afterMs: z.number().int(),
  })
  .strict();

export const errorMessage = z
  .object({
    type: z.literal('error'),
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    replyTo: requestIdSchema.optional(),
  })
  .strict();

export const serverMessageSchema = z.discriminatedUnion('type', [
  welcomeMessage,
  peerJoinedMessage,
  memberUpdatedMessage,
  peerLeftMessage,
  serverSignalMessage,
  serverDataMessage,
  leftMessage,
  turnCredentialsMessage,
  tokenRefreshedMessage,
  pongMessage,
  reconnectMessage,
  errorMessage,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;
export type ServerMessageType = ServerMessage['type'];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;
