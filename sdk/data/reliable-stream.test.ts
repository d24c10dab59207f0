import { describe, expect, it } from 'vitest';
import { SdkError } from '../errors.js';
import { ReliableReceiver, ReliableSender } from './reliable-stream.js';

const msg = (payload: string) => ({ channel: undefined, payload, binary: false });

describe('ReliableSender', () => {
  it('numbers from 1, keeps messages until a cumulative ack, and resends all unacked after a path switch', () => {
    const s = new ReliableSender(10);
    const [m1, m2, m3] = [s.push(msg('a')), s.push(msg('b')), s.push(msg('c'))];
    expect([m1.seq, m2.seq, m3.seq]).toEqual([1, 2, 3]);
    for (const o of s.due(0, Infinity)) s.markSent(o, 0);
    expect(s.due(10, Infinity)).toEqual([]);
    s.ack(1);
    expect(s.pending).toBe(2);
    s.newEpoch();
    expect(s.due(10, Infinity).map((o) => o.seq)).toEqual([2, 3]);
  });

  it('retransmits after retransmitMs and says when the next one is due', () => {
    const s = new ReliableSender(10);
    const m = s.push(msg('a'));
    expect(s.nextRetransmitIn(0, 100)).toBe(0);
    s.markSent(m, 1000);
    expect(s.due(1050, 100)).toEqual([]);
    expect(s.nextRetransmitIn(1050, 100)).toBe(50);
    expect(s.due(1100, 100).map((o) => o.seq)).toEqual([1]);
  });

  it('refuses past maxUnacked with send_buffer_full', () => {
    const s = new ReliableSender(1);
    s.push(msg('a'));
    expect(() => s.push(msg('b'))).toThrow(expect.objectContaining({ code: 'send_buffer_full' }) as SdkError);
  });
});

describe('ReliableReceiver', () => {
  it('delivers in order exactly once, holding early messages until the gap fills', () => {
    const r = new ReliableReceiver<string>(10);
    expect(r.accept(2, 'b')).toEqual([]);
    expect(r.accept(3, 'c')).toEqual([]);
    expect(r.accept(1, 'a')).toEqual(['a', 'b', 'c']);
    expect(r.accept(2, 'b')).toEqual([]);
    expect(r.accept(3, 'c')).toEqual([]);
    expect(r.cumulativeAck).toBe(3);
    expect(r.accept(4, 'd')).toEqual(['d']);
  });

  it('drops what is too far ahead to hold (the sender resends it)', () => {
    const r = new ReliableReceiver<string>(1);
    expect(r.accept(3, 'c')).toEqual([]);
    expect(r.accept(4, 'd')).toEqual([]);
    expect(r.accept(2, 'b')).toEqual([]);
    expect(r.accept(1, 'a')).toEqual(['a']);
    expect(r.cumulativeAck).toBe(1);
  });
});
