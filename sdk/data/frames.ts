/**
 * The SDK's own framing of application data, on both paths:
 * - on a peer link: JSON text on the reliable channel (`r` messages and `a` acks) or on the unreliable
 *   channel (`u` messages);
 * - on the WebSocket path: the protocol's `data` frame, where `seq` marks a reliable message, the reserved
 *   channel `~ack` carries a cumulative ack and `~ctl` a control request between SDKs.
 * Binary payloads travel as base64 with `b: true` (the protocol's `binary`).
 */
import type { ClientMessage, ServerMessageOf } from '../../signaling/protocol/light/index.js';
import { base64ToBytes, bytesToBase64 } from './base64.js';

export type AppData = string | Uint8Array;

/** What an application message looks like on the wire, payload already encoded. */
export interface EncodedPayload {
  channel: string | undefined;
  payload: string;
  binary: boolean;
}

export type ControlRequest = { op: 'relink'; ufrag: string | null };

export type Frame =
  | ({ kind: 'reliable'; seq: number } & EncodedPayload)
  | ({ kind: 'unreliable' } & EncodedPayload)
  | { kind: 'ack'; seq: number }
  | { kind: 'control'; request: ControlRequest };

export const ACK_CHANNEL = '~ack';
export const CONTROL_CHANNEL = '~ctl';

export function isReservedChannel(channel: string | undefined): boolean {
  return channel !== undefined && channel.startsWith('~');
}

export function encodePayload(data: AppData | ArrayBuffer, channel: string | undefined): EncodedPayload {
  if (typeof data === 'string') return { channel, payload: data, binary: false };
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return { channel, payload: bytesToBase64(bytes), binary: true };
}

export function decodePayload(p: { payload: string; binary: boolean }): AppData {
  return p.binary ? base64ToBytes(p.payload) : p.payload;
}

type WireFrame =
  | { t: 'r'; s: number; c?: string; p: string; b?: 1 }
  | { t: 'u'; c?: string; p: string; b?: 1 }
  | { t: 'a'; s: number };

/** A frame for a peer link's data channel. Control requests only travel over signaling. */
export function toLinkText(frame: Exclude<Frame, { kind: 'control' }>): string {
  let wire: WireFrame;
  switch (frame.kind) {
    case 'ack':
      wire = { t: 'a', s: frame.seq };
      break;
    case 'reliable':
      wire = { t: 'r', s: frame.seq, p: frame.payload };
      if (frame.channel !== undefined) wire.c = frame.channel;
      if (frame.binary) wire.b = 1;
      break;
    case 'unreliable':
      wire = { t: 'u', p: frame.payload };
      if (frame.channel !== undefined) wire.c = frame.channel;
      if (frame.binary) wire.b = 1;
      break;
  }
  return JSON.stringify(wire);
}

/** Parse a data-channel frame; anything malformed is null (a peer cannot crash us with garbage). */
export function fromLinkText(text: string): Frame | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const w = raw as Partial<Record<'t' | 's' | 'c' | 'p' | 'b', unknown>>;
  const channel = typeof w.c === 'string' ? w.c : undefined;
  const seqOk = typeof w.s === 'number' && Number.isSafeInteger(w.s) && w.s >= 0;
  if (w.t === 'a' && seqOk) return { kind: 'ack', seq: w.s as number };
  if (typeof w.p !== 'string') return null;
  const body = { channel, payload: w.p, binary: w.b === 1 };
  if (w.t === 'r' && seqOk) return { kind: 'reliable', seq: w.s as number, ...body };
  if (w.t === 'u') return { kind: 'unreliable', ...body };
  return null;
}

type DataMessage = Extract<ClientMessage, { type: 'data' }>;

/** A frame as a signaling `data` message to one peer. */
export function toSignalingData(frame: Frame, to: string): DataMessage {
  switch (frame.kind) {
    case 'ack':
      return { type: 'data', to, channel: ACK_CHANNEL, payload: String(frame.seq) };
    case 'control':
      return { type: 'data', to, channel: CONTROL_CHANNEL, payload: JSON.stringify(frame.request) };
    case 'reliable':
    case 'unreliable': {
      const msg: DataMessage = { type: 'data', to, payload: frame.payload };
      if (frame.channel !== undefined) msg.channel = frame.channel;
      if (frame.binary) msg.binary = true;
      if (frame.kind === 'reliable') msg.seq = frame.seq;
      return msg;
    }
  }
}

/** A signaling `data` message as a frame; `data` from clients that are not this SDK is unreliable. */
export function fromSignalingData(msg: ServerMessageOf<'data'>): Frame | null {
  if (msg.channel === ACK_CHANNEL) {
    const seq = Number(msg.payload);
    return Number.isSafeInteger(seq) && seq >= 0 ? { kind: 'ack', seq } : null;
  }
  if (msg.channel === CONTROL_CHANNEL) {
    try {
      const req = JSON.parse(msg.payload) as Partial<ControlRequest>;
      if (req.op === 'relink')
        return { kind: 'control', request: { op: 'relink', ufrag: req.ufrag ?? null } };
    } catch {
      /* malformed control request: ignored */
    }
    return null;
  }
  const body = { channel: msg.channel, payload: msg.payload, binary: msg.binary === true };
  return msg.seq !== undefined
    ? { kind: 'reliable', seq: msg.seq, ...body }
    : { kind: 'unreliable', ...body };
}
