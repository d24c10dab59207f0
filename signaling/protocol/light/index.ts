/**
 * The wire protocol for clients, without zod: the types, constants, error codes and a frame check, all
 * derived from the zod schemas in `signaling/protocol/` (the one definition the server validates with).
 * The SDK imports this entry only, so its browser bundle carries about 2 KB of protocol instead of zod.
 */
import { matches } from './check.js';
import { serverMessageJsonSchema, type ServerMessage } from './wire.generated.js';

export * from './wire.generated.js';
export { ERROR_CODES, errorCodeList, type ErrorCode } from '../error-codes.js';
export { matches, type JsonSchema } from './check.js';

/** A server frame, checked against the protocol's schema; null when it is not one. */
export function parseServerMessage(raw: unknown): ServerMessage | null {
  return matches(serverMessageJsonSchema, raw) ? (raw as ServerMessage) : null;
}

/** Compile-time exhaustiveness for `switch (msg.type)`. */
export function assertNever(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
