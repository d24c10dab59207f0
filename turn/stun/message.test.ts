import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeAddress,
  decodeType,
  encodeAddress,
  encodeType,
  getAttr,
  getText,
  parseStun,
  randomTransactionId,
  verifyIntegrity,
} from './message.js';

const key = Buffer.from('0123456789abcdef');

function signed(): Buffer {
  return new StunWriter(Method.allocate, StunClass.request, randomTransactionId())
    .add(Attr.requestedTransport, Buffer.from([17, 0, 0, 0]))
    .addText(Attr.username, 'user')
    .build({ integrityKey: key, fingerprint: true });
}

describe('STUN codec', () => {
  it('encodes and decodes every class of every TURN method (RFC 8489 §5)', () => {
    for (const method of Object.values(Method))
      for (const cls of Object.values(StunClass))
        expect(decodeType(encodeType(method, cls))).toEqual({ method, cls });
    // RFC 8656 well-known values: Allocate request 0x0003, success 0x0103, error 0x0113, Data indication 0x0017.
    expect(encodeType(Method.allocate, StunClass.request)).toBe(0x0003);
    expect(encodeType(Method.allocate, StunClass.success)).toBe(0x0103);
    expect(encodeType(Method.allocate, StunClass.error)).toBe(0x0113);
    expect(encodeType(Method.data, StunClass.indication)).toBe(0x0017);
  });

  it('round-trips a signed, fingerprinted message and verifies its integrity', () => {
    const r = parseStun(signed());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.message.hasFingerprint).toBe(true);
    expect(getText(r.message, Attr.username)).toBe('user');
    expect(verifyIntegrity(r.message, key)).toBe(true);
    expect(verifyIntegrity(r.message, Buffer.from('wrong'))).toBe(false);
  });

  it('rejects a message whose fingerprint does not match, as one not to answer', () => {
    const buf = signed();
    buf[buf.length - 1]! ^= 1;
    expect(parseStun(buf)).toMatchObject({ ok: false, header: false });
  });

  it('ignores attributes after MESSAGE-INTEGRITY (RFC 8489 §14.5)', () => {
    const buf = new StunWriter(Method.refresh, StunClass.request, randomTransactionId())
      .addUint32(Attr.lifetime, 600)
      .build({ integrityKey: key });
    const extra = new StunWriter(Method.refresh, StunClass.request, randomTransactionId())
      .addUint32(Attr.lifetime, 0)
      .build()
      .subarray(20);
    const tampered = Buffer.concat([buf, extra]);
    tampered.writeUInt16BE(tampered.length - 20, 2);
    const r = parseStun(tampered);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(getAttr(r.message, Attr.lifetime)?.readUInt32BE(0)).toBe(600);
    expect(r.message.attributes.filter((a) => a.type === Attr.lifetime)).toHaveLength(1);
    expect(verifyIntegrity(r.message, key)).toBe(true);
  });

  it.each([
    ['too short', (b: Buffer) => b.subarray(0, 19)],
    ['bad cookie', (b: Buffer) => (b.writeUInt32BE(0x12345678, 4), b)],
    ['length not a multiple of 4', (b: Buffer) => (b.writeUInt16BE(b.readUInt16BE(2) + 1, 2), b)],
    ['length beyond the datagram', (b: Buffer) => (b.writeUInt16BE(b.readUInt16BE(2) + 4, 2), b)],
    ['attribute overruns', (b: Buffer) => (b.writeUInt16BE(0xfff0, 22), b)],
    ['truncated datagram', (b: Buffer) => b.subarray(0, b.length - 3)],
  ])('refuses a malformed message: %s', (_name, mutate) => {
    expect(parseStun(mutate(Buffer.from(signed()))).ok).toBe(false);
  });

  it.each([
    { address: '192.0.2.1', port: 32853, family: 'IPv4' as const },
    { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853, family: 'IPv6' as const },
    { address: '::1', port: 1, family: 'IPv6' as const },
    { address: 'fe80::1:0:0:2', port: 65535, family: 'IPv6' as const },
  ])('round-trips XOR addresses: $address', (addr) => {
    const id = randomTransactionId();
    expect(decodeAddress(encodeAddress(addr, true, id), true, id)).toEqual(addr);
    expect(decodeAddress(encodeAddress(addr, false, id), false, id)).toEqual(addr);
  });

  it('decodes RFC 5769 §2.2 XOR-MAPPED-ADDRESS 192.0.2.1:32853', () => {
    const value = Buffer.from('0001a147e112a643', 'hex');
    expect(decodeAddress(value, true, Buffer.alloc(12))).toEqual({
      address: '192.0.2.1',
      port: 32853,
      family: 'IPv4',
    });
  });
});
