import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as full from '../index.js';
import { GENERATED_PATH, render } from './generate.js';
import * as light from './index.js';

/** Mutual assignability: the generated types and zod's inferred types describe the same values. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameTypes: [
  Same<light.ClientMessage, z.infer<typeof full.clientMessageSchema>>,
  Same<light.ServerMessage, z.infer<typeof full.serverMessageSchema>>,
  Same<light.SignalPayload, full.SignalPayload>,
  Same<light.Member, full.Member>,
  Same<light.IceServer, full.IceServer>,
] = [true, true, true, true, true];

const PEER = 'peer_0123456789';
const valid: unknown[] = [
  {
    type: 'welcome',
    replyTo: 1,
    room: 'demo',
    peerId: PEER,
    sessionId: 's'.repeat(20),
    resumed: false,
    members: [{ peerId: 'peer_abcdefghij', userId: 'bob', meta: { name: 'Bob', n: 2, ok: true } }],
    iceServers: [{ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'c' }, { urls: 'stun:x' }],
    iceServersExpireAt: 1_900_000_000,
    tokenExpiresAt: 1_900_000_000,
    limits: { maxMessageBytes: 65_536, roomSize: 50, ratePerSecond: 100, resumeWindowMs: 30_000 },
  },
  { type: 'peer-left', peerId: PEER, reason: 'timeout' },
  { type: 'signal', from: PEER, signal: { type: 'offer', sdp: 'v=0' } },
  {
    type: 'signal',
    from: PEER,
    signal: {
      type: 'candidate',
      candidate: { candidate: 'candidate:1', sdpMid: null, usernameFragment: 'u' },
    },
  },
  { type: 'data', from: PEER, payload: 'hi', channel: 'chat', seq: 3 },
  { type: 'error', code: 'rate_limited', message: 'Rate limit exceeded' },
  { type: 'reconnect', reason: 'draining', afterMs: 100 },
  { type: 'token-refreshed', replyTo: 7, expiresAt: 1_900_000_600 },
];
const invalid: unknown[] = [
  null,
  'welcome',
  { type: 'nope' },
  { type: 'peer-left', peerId: 'short', reason: 'timeout' },
  { type: 'peer-left', peerId: PEER, reason: 'bored' },
  { type: 'signal', from: PEER, signal: { type: 'offer' } },
  { type: 'signal', from: PEER, signal: { type: 'offer', sdp: 'x'.repeat(49_153) } },
  { type: 'data', from: PEER, payload: 'hi', seq: 1.5 },
  { type: 'error', code: 'no_such_code', message: 'x' },
  { type: 'reconnect', reason: 'draining' },
  { type: 'token-refreshed', expiresAt: 'soon' },
];

describe('light protocol entry', () => {
  it('is generated from the current schemas (regenerate with `npx tsx signaling/protocol/light/generate.ts --write`)', async () => {
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(await render());
    expect(sameTypes.every(Boolean)).toBe(true);
  });

  it('accepts and refuses the frames zod accepts and refuses', () => {
    for (const frame of [...valid, ...invalid]) {
      const zod = full.serverMessageSchema.safeParse(frame).success;
      expect({ frame, light: light.parseServerMessage(frame) !== null }).toEqual({ frame, light: zod });
    }
    expect(valid.every((f) => full.serverMessageSchema.safeParse(f).success)).toBe(true);
  });

  it('ignores a property a newer server added, where the server itself is strict', () => {
    const frame = { type: 'pong', t: 1, addedLater: true };
    expect(light.parseServerMessage(frame)).not.toBeNull();
    expect(full.serverMessageSchema.safeParse(frame).success).toBe(false);
  });

  it('carries the protocol constants and error codes of the full entry', () => {
    expect([light.SUBPROTOCOL, light.TOKEN_SUBPROTOCOL_PREFIX, light.PROTOCOL_VERSION]).toEqual([
      full.SUBPROTOCOL,
      full.TOKEN_SUBPROTOCOL_PREFIX,
      full.PROTOCOL_VERSION,
    ]);
    expect(light.ERROR_CODES).toBe(full.ERROR_CODES);
    expect(light.peerLeftReasons).toEqual(full.peerLeftReasons);
  });
});
