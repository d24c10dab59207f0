/**
 * The compiled fast path must never accept what zod refuses, and must hand the dispatcher the same message
 * zod would. Every fixture, and ten thousand mutations of valid frames at the schema's edges, go
 * through the parser with the fast path and with zod alone; the two answers must be identical.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { clientMessageSchema } from '../protocol/index.js';
import { compile, strictJsonSchema } from '../protocol/compiled-check.js';
import { parseClientFrame } from './frame-parser.js';

const PEER = 'AAAAAAAAAAAAAAAA';
const SDP = 48 * 1024;
const CAND = 'candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 10.0.0.2 rport 54400';

const valid: Array<Record<string, unknown>> = [
  { type: 'signal', to: PEER, signal: { type: 'offer', sdp: 'v=0' } },
  { type: 'signal', id: 3, to: PEER, signal: { type: 'answer', sdp: 'x'.repeat(SDP) } },
  { type: 'signal', id: 'r', to: PEER, signal: { type: 'pranswer', sdp: '' } },
  { type: 'signal', to: PEER, signal: { type: 'rollback' } },
  {
    type: 'signal',
    to: PEER,
    signal: { type: 'candidate', candidate: { candidate: CAND, sdpMid: '0', sdpMLineIndex: 0 } },
  },
  {
    type: 'signal',
    to: PEER,
    signal: {
      type: 'candidate',
      candidate: { candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: null },
    },
  },
  { type: 'signal', to: PEER, signal: { type: 'renegotiate', renegotiate: true } },
  { type: 'signal', to: PEER, signal: { type: 'transceiverRequest', transceiverRequest: { kind: 'audio' } } },
  {
    type: 'signal',
    to: PEER,
    signal: {
      type: 'transceiverRequest',
      transceiverRequest: { kind: 'video', init: { direction: 'sendrecv', streams: [[1, 2]] } },
    },
  },
  { type: 'data', payload: 'hi' },
  { type: 'data', id: 1, to: PEER, payload: '', binary: true, channel: 'game', seq: 0 },
  { type: 'data', payload: 'x', seq: Number.MAX_SAFE_INTEGER },
  { type: 'ping' },
  { type: 'ping', id: 'p', t: 1.5 },
  { type: 'join', room: 'demo' },
  { type: 'join', id: 'j', room: 'r', meta: { name: 'A', n: 1, ok: true } },
  { type: 'join', room: 'r', resume: { sessionId: 's'.repeat(16), peerId: PEER } },
  { type: 'leave' },
  { type: 'update-metadata', meta: {} },
  { type: 'turn-credentials', id: 9 },
  { type: 'refresh-token', token: 'a.b.c' },
];

/** Frames refused today (the server tests' and more), each one a different rule. */
const refused: unknown[] = [
  {},
  { type: 'teleport' },
  { type: 'signal', to: PEER, signal: { type: 'offer' } },
  { type: 'signal', to: PEER, from: PEER, signal: { type: 'offer', sdp: 'v=0' } },
  { type: 'signal', to: 'short', signal: { type: 'offer', sdp: 'v=0' } },
  { type: 'signal', to: `${PEER}!`, signal: { type: 'offer', sdp: 'v=0' } },
  { type: 'signal', to: PEER, signal: { type: 'offer', sdp: 'x'.repeat(SDP + 1) } },
  { type: 'signal', to: PEER, signal: { type: 'offer', sdp: 'v=0', extra: 1 } },
  { type: 'signal', to: PEER, signal: { type: 'bogus', sdp: 'v=0' } },
  { type: 'signal', to: PEER, signal: 'offer' },
  { type: 'signal', to: PEER, signal: null },
  { type: 'signal', to: PEER },
  { type: 'signal', id: 1.5, to: PEER, signal: { type: 'rollback' } },
  { type: 'signal', id: 'x'.repeat(65), to: PEER, signal: { type: 'rollback' } },
  { type: 'signal', id: null, to: PEER, signal: { type: 'rollback' } },
  { type: 'signal', id: 2 ** 53, to: PEER, signal: { type: 'rollback' } },
  { type: 'signal', to: PEER, signal: { type: 'candidate', candidate: { candidate: 'x'.repeat(1025) } } },
  {
    type: 'signal',
    to: PEER,
    signal: { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: -1 } },
  },
  {
    type: 'signal',
    to: PEER,
    signal: { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: 0.5 } },
  },
  {
    type: 'signal',
    to: PEER,
    signal: { type: 'candidate', candidate: { candidate: 'c', sdpMLineIndex: 1025 } },
  },
  {
    type: 'signal',
    to: PEER,
    signal: { type: 'candidate', candidate: { candidate: 'c', sdpMid: 'x'.repeat(65) } },
  },
  { type: 'signal', to: PEER, signal: { type: 'candidate', candidate: { candidate: 'c', x: 1 } } },
  { type: 'signal', to: PEER, signal: { type: 'candidate', candidate: 'c' } },
  { type: 'signal', to: PEER, signal: { type: 'candidate', candidate: [] } },
  { type: 'signal', to: PEER, signal: { type: 'renegotiate', renegotiate: false } },
  { type: 'signal', to: PEER, signal: { type: 'transceiverRequest', transceiverRequest: { kind: 'data' } } },
  // Too deep and too many keys: the refinement that JSON Schema cannot state.
  {
    type: 'signal',
    to: PEER,
    signal: {
      type: 'transceiverRequest',
      transceiverRequest: { kind: 'audio', init: { a: { b: { c: { d: { e: 1 } } } } } },
    },
  },
  {
    type: 'signal',
    to: PEER,
    signal: {
      type: 'transceiverRequest',
      transceiverRequest: { kind: 'audio', init: { a: Array.from({ length: 65 }, () => 1) } },
    },
  },
  { type: 'data' },
  { type: 'data', payload: 1 },
  { type: 'data', payload: 'x', to: 'no' },
  { type: 'data', payload: 'x', seq: -1 },
  { type: 'data', payload: 'x', seq: 1.5 },
  { type: 'data', payload: 'x', channel: 'c'.repeat(65) },
  { type: 'data', payload: 'x', binary: 'yes' },
  { type: 'data', payload: 'x', from: PEER },
  { type: 'ping', t: 'now' },
  { type: 'ping', extra: true },
  { type: 'join', room: '' },
  { type: 'join', room: 'a b' },
  { type: 'join', room: 'r'.repeat(129) },
  { type: 'join', room: 'r', meta: { name: { nested: true } } },
  { type: 'join', room: 'r', meta: { ['k'.repeat(65)]: 1 } },
  { type: 'join', room: 'r', resume: { sessionId: 'short', peerId: PEER } },
  { type: 'leave', room: 'r' },
  { type: 'update-metadata' },
  { type: 'refresh-token', token: 'x'.repeat(8193) },
];

const both = (text: string) => [parseClientFrame(text, true), parseClientFrame(text, false)] as const;

describe('the frame parser', () => {
  it('accepts every valid fixture on the fast path, giving what zod gives', () => {
    for (const frame of valid) {
      const type = frame.type as string;
      const option = clientMessageSchema.options.find((o) => o.shape.type.value === type)!;
      const check = compile(strictJsonSchema(option));
      // The transceiver init is refined (depth and key budget): zod alone proves those frames.
      const refinedInit = JSON.stringify(frame).includes('"init"');
      expect(check(frame), JSON.stringify(frame).slice(0, 200)).toBe(!refinedInit);
      const [fast, slow] = both(JSON.stringify(frame));
      expect(fast).toEqual(slow);
      expect(fast.ok).toBe(true);
    }
  });

  it('refuses every refused fixture with the same code and words as zod alone', () => {
    for (const frame of refused) {
      const [fast, slow] = both(JSON.stringify(frame));
      expect(fast, JSON.stringify(frame).slice(0, 200)).toEqual(slow);
      expect(fast.ok).toBe(false);
    }
    // `__proto__` is an own key after JSON.parse: the fast path leaves such frames to zod.
    const proto = '{"type":"join","room":"r","meta":{"__proto__":"x","name":"a"}}';
    expect(parseClientFrame(proto, true)).toEqual(parseClientFrame(proto, false));
    const parsed = parseClientFrame(proto, true);
    expect(
      parsed.ok &&
        Object.hasOwn(parsed.message, 'meta') &&
        Object.keys((parsed.message as { meta: object }).meta),
    ).toEqual(Object.keys((parseClientFrame(proto, false) as { message: { meta: object } }).message.meta));
    for (const text of ['{"type":', '42', 'null', '"signal"', '[]', '{"type":"signal","to":1}'])
      expect(parseClientFrame(text, true)).toEqual(parseClientFrame(text, false));
  });

  it('agrees with zod on thousands of mutations of valid frames', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const odd: unknown[] = [
      null,
      true,
      0,
      -1,
      1.5,
      2 ** 53,
      '',
      'x'.repeat(65),
      'x'.repeat(1025),
      PEER,
      [],
      {},
      [1],
      { a: 1 },
      'offer',
      'audio',
    ];
    let fastAccepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const frame = structuredClone(valid[rand(valid.length)]!);
      // Walk to a random object inside the frame and change, add or drop one key.
      let target: Record<string, unknown> = frame;
      for (let d = rand(4); d > 0; d--) {
        const inner = Object.values(target).filter((v) => typeof v === 'object' && v !== null);
        if (inner.length === 0) break;
        target = inner[rand(inner.length)] as Record<string, unknown>;
      }
      const keys = Object.keys(target);
      const op = rand(3);
      if (op === 0 && keys.length > 0) delete target[keys[rand(keys.length)]!];
      else if (op === 1 && keys.length > 0) target[keys[rand(keys.length)]!] = odd[rand(odd.length)];
      else
        target[['from', 'x', 'sdp', 'to', 'type', 'id', 'init', '__proto__'][rand(8)]!] =
          odd[rand(odd.length)];
      const text = JSON.stringify(frame);
      const [fast, slow] = both(text);
      expect(fast, text.slice(0, 300)).toEqual(slow);
      if (fast.ok) fastAccepted++;
    }
    // The mutations cover both sides of the line.
    expect(fastAccepted).toBeGreaterThan(100);
    expect(fastAccepted).toBeLessThan(9_500);
  });

  it('never proves what JSON Schema cannot state: refinements, transforms, regex flags, lost types', () => {
    const cases: Array<[z.ZodType, unknown]> = [
      [z.string().refine((s) => s !== 'no'), 'no'],
      [z.string().trim(), ' a '],
      [z.string().regex(/^a$/i), 'A'],
      [z.string().default('x'), 'x'],
      [z.date(), {}],
      [z.object({ a: z.string() }), { a: 'x', b: 1 }],
      [z.string().email(), 'a@b.c'],
      [z.number().multipleOf(2), 4],
    ];
    for (const [schema, value] of cases) expect(compile(strictJsonSchema(schema))(value)).toBe(false);
    // What it does state is proven.
    expect(compile(strictJsonSchema(z.object({ a: z.string().max(2) }).strict()))({ a: 'ab' })).toBe(true);
  });
});
