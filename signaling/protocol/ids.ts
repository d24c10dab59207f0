import { z } from 'zod';

/** Peer ids are assigned by the server: 16 url-safe characters. Clients never choose them. */
export const peerIdSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'invalid peer id');
export type PeerId = z.infer<typeof peerIdSchema>;

/** Room names: what apps put in URLs; no control characters, bounded. */
export const roomNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\s\u0000-\u001f\u007f]+$/, 'room names have no spaces or control characters');
export type RoomName = z.infer<typeof roomNameSchema>;

/** Correlates a request with the reply or error that answers it. */
export const requestIdSchema = z.union([z.string().max(64), z.number().int().safe()]);
export type RequestId = z.infer<typeof requestIdSchema>;

/** Session ids let a reconnecting peer resume its peer id; opaque to the client. */
export const sessionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, 'invalid session id');

/** Protocol version; the WebSocket path is `/v1/ws` and the subprotocol `relay.v1`. */
export const PROTOCOL_VERSION = 'v1';
export const SUBPROTOCOL = 'relay.v1';
/** Prefix of the subprotocol entry that carries the JWT when a browser cannot send a query string. */
export const TOKEN_SUBPROTOCOL_PREFIX = 'bearer.';
