/** The wire protocol, shared by the signaling server and the SDK. Browser-safe: depends on zod only. */
export * from './error-codes.js';
export * from './ids.js';
export * from './client-messages.js';
export * from './server-messages.js';

/** Compile-time exhaustiveness for `switch (msg.type)`. */
export function assertNever(value: never): never {
  throw new Error(`unhandled variant: ${JSON.stringify(value)}`);
}
