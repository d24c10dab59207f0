/**
 * A server message serialized once, when it is accepted. Every receiver of a broadcast, a mailbox and the
 * Redis bus carry this same string, so a message that was accepted can always be delivered, and a
 * broadcast to a room of 16 costs one JSON.stringify, not 16.
 */
import type { ServerMessage, ServerMessageType } from '../protocol/index.js';

export interface Frame {
  readonly type: ServerMessageType;
  readonly json: string;
}

/** Serialize a message; throws when it cannot be (the caller refuses what it was asked to send). */
export function toFrame(message: ServerMessage): Frame {
  return { type: message.type, json: JSON.stringify(message) };
}
