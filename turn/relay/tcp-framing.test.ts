import { describe, expect, it } from 'vitest';
import { StunClass, StunWriter, Method, randomTransactionId } from '../stun/message.js';
import { encodeChannelData } from '../stun/channel-data.js';
import { FrameReader } from './tcp-framing.js';

const stun = () =>
  new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build({ fingerprint: true });
const channelData = (n: number, stream = false) => encodeChannelData(0x4001, Buffer.alloc(n, 7), stream);

describe('FrameReader (TURN over TCP, RFC 8656 §12.5)', () => {
  it('splits a stream into STUN and padded ChannelData frames, however the bytes arrive', () => {
    const a = stun();
    const b = channelData(5); // padded to 12 bytes on the stream, handed on as 9
    const c = stun();
    const stream = Buffer.concat([a, channelData(5, true), c]);
    expect(channelData(5, true)).toHaveLength(12);
    for (const chunkSize of [1, 3, 7, stream.length]) {
      const reader = new FrameReader();
      const frames: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunkSize)
        frames.push(...reader.push(stream.subarray(i, i + chunkSize))!);
      expect(frames.map((f) => f.toString('hex'))).toEqual([a, b, c].map((f) => f.toString('hex')));
      expect(reader.pending).toBe(0);
    }
  });

  it('keeps a partial frame until the rest arrives', () => {
    const reader = new FrameReader();
    const a = stun();
    expect(reader.push(a.subarray(0, 10))).toEqual([]);
    expect(reader.pending).toBe(10);
    expect(reader.push(a.subarray(10))).toHaveLength(1);
  });

  it('reports a stream that is not TURN', () => {
    expect(new FrameReader().push(Buffer.from('GET / HTTP/1.1\r\n'))).toBeNull();
    expect(new FrameReader().push(Buffer.from([0xc0, 0, 0, 0]))).toBeNull();
    expect(new FrameReader().push(Buffer.from('160301020001', 'hex'))).toEqual([]); // too short to judge
    expect(new FrameReader().push(Buffer.from('1603010200010000', 'hex'))).toBeNull(); // a TLS ClientHello
    expect(new FrameReader().push(channelData(4))).toBeNull(); // ChannelData before any STUN message
  });
});
