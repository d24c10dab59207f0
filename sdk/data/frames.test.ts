import { describe, expect, it } from 'vitest';
import {
  decodePayload,
  encodePayload,
  fromLinkText,
  fromSignalingData,
  toLinkText,
  toSignalingData,
  type Frame,
} from './frames.js';
import { clientMessageSchema } from '../../signaling/protocol/index.js';

describe('frames', () => {
  const frames: Frame[] = [
    { kind: 'reliable', seq: 7, ...encodePayload('hi', 'chat') },
    { kind: 'reliable', seq: 8, ...encodePayload(new Uint8Array([0, 255, 128]), undefined) },
    { kind: 'unreliable', ...encodePayload('pos', 'game') },
    { kind: 'ack', seq: 42 },
  ];

  it('round-trip over a data channel', () => {
    for (const f of frames) {
      if (f.kind === 'control') continue;
      expect(fromLinkText(toLinkText(f))).toEqual(f);
    }
    expect(fromLinkText('not json')).toBeNull();
    expect(fromLinkText('{"t":"r","s":-1,"p":"x"}')).toBeNull();
  });

  it('round-trip as protocol-valid signaling data frames', () => {
    const all: Frame[] = [...frames, { kind: 'control', request: { op: 'relink', ufrag: 'abc' } }];
    for (const f of all) {
      const msg = toSignalingData(f, 'peer-0000001');
      expect(clientMessageSchema.safeParse(msg).success).toBe(true);
      const { to: _to, type: _type, ...rest } = msg;
      expect(fromSignalingData({ type: 'data', from: 'peer-0000002', ...rest })).toEqual(f);
    }
  });

  it('binary payloads survive base64', () => {
    const bytes = new Uint8Array(100_000).map((_, i) => i % 256);
    expect(decodePayload(encodePayload(bytes, undefined))).toEqual(bytes);
  });
});
