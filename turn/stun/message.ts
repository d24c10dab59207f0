/**
 * STUN message codec (RFC 8489 §5, §14) with the TURN methods and attributes (RFC 8656 §13-§14).
 * Parsing is strict and never throws: every length is checked against the datagram before it is read, and
 * attributes after MESSAGE-INTEGRITY are not exposed (only FINGERPRINT may follow it, RFC 8489 §14.5).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ipBytes } from '../ip.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;

export const StunClass = { request: 0, indication: 1, success: 2, error: 3 } as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

export const Method = {
  binding: 0x001,
  allocate: 0x003,
  refresh: 0x004,
  send: 0x006,
  data: 0x007,
  createPermission: 0x008,
  channelBind: 0x009,
} as const;

export const Attr = {
  mappedAddress: 0x0001,
  /** RFC 5780 NAT behaviour discovery; this relay does not do it, so a request carrying it gets 420. */
  changeRequest: 0x0003,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  unknownAttributes: 0x000a,
  channelNumber: 0x000c,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedAddressFamily: 0x0017,
  evenPort: 0x0018,
  requestedTransport: 0x0019,
  dontFragment: 0x001a,
  messageIntegritySha256: 0x001c,
  passwordAlgorithm: 0x001d,
  userhash: 0x001e,
  xorMappedAddress: 0x0020,
  reservationToken: 0x0022,
  priority: 0x0024,
  useCandidate: 0x0025,
  additionalAddressFamily: 0x8000,
  addressErrorCode: 0x8001,
  software: 0x8022,
  fingerprint: 0x8028,
  iceControlled: 0x8029,
  iceControlling: 0x802a,
} as const;

/**
 * Comprehension-required attributes (0x0000-0x7FFF) this relay understands in a request. Any other one
 * gets 420 with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1), Binding requests included: CHANGE-REQUEST asks for
 * an answer from another address and port, which a relay that ignored it would silently not give.
 * DONT-FRAGMENT is left out on purpose: Node cannot set the DF bit, and RFC 8656 §7.2 says a server that
 * cannot honour it answers 420.
 */
const UNDERSTOOD_REQUIRED = new Set<number>([
  Attr.username,
  Attr.realm,
  Attr.nonce,
  Attr.lifetime,
  Attr.requestedTransport,
  Attr.requestedAddressFamily,
  Attr.evenPort,
  Attr.reservationToken,
  Attr.xorPeerAddress,
  Attr.data,
  Attr.channelNumber,
  Attr.priority,
  Attr.useCandidate,
]);

/** The comprehension-required attributes of `message` this relay does not understand. */
export function unknownRequired(message: StunMessage): number[] {
  const out: number[] = [];
  for (const a of message.attributes)
    if (a.type < 0x8000 && !UNDERSTOOD_REQUIRED.has(a.type)) out.push(a.type);
  return out;
}

/** UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): the types, two bytes each. */
export function encodeUnknownAttributes(types: readonly number[]): Buffer {
  const v = Buffer.alloc(types.length * 2);
  types.forEach((t, i) => v.writeUInt16BE(t, i * 2));
  return v;
}

const FINGERPRINT_XOR = 0x5354554e;

export interface StunAttribute {
  type: number;
  /** The value, without padding; a view into the datagram. */
  value: Buffer;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  /** 12 bytes, a view into the datagram. */
  transactionId: Buffer;
  /** Attributes before MESSAGE-INTEGRITY (or all, when there is none), in order. */
  attributes: StunAttribute[];
  /** Byte offset of the MESSAGE-INTEGRITY attribute header, or -1. */
  integrityOffset: number;
  hasFingerprint: boolean;
  /** The whole datagram. */
  raw: Buffer;
}

export type ParseResult =
  | { ok: true; message: StunMessage }
  /** `header` is true when the 20-byte header was valid, so a request can still be answered with 400. */
  | { ok: false; reason: string; header: boolean };

/** RFC 8489 §5: the first two bits are zero, and RFC 7983 demultiplexing puts STUN at first byte 0-3. */
export function looksLikeStun(buf: Buffer): boolean {
  return buf.length >= HEADER_LENGTH && (buf[0]! & 0xc0) === 0 && buf.readUInt32BE(4) === MAGIC_COOKIE;
}

export function decodeType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type & 0x0010) >> 4) | ((type & 0x0100) >> 7)) as StunClass;
  return { method, cls };
}

export function encodeType(method: number, cls: StunClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) |
    ((cls & 2) << 7)
  );
}

export function parseStun(buf: Buffer): ParseResult {
  if (!looksLikeStun(buf)) return { ok: false, reason: 'not a STUN message', header: false };
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0 || length + HEADER_LENGTH !== buf.length)
    return { ok: false, reason: 'length field does not match the datagram', header: false };
  const { method, cls } = decodeType(buf.readUInt16BE(0));
  const attributes: StunAttribute[] = [];
  let integrityOffset = -1;
  let hasFingerprint = false;
  let offset = HEADER_LENGTH;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) return { ok: false, reason: 'truncated attribute header', header: true };
    const type = buf.readUInt16BE(offset);
    const len = buf.readUInt16BE(offset + 2);
    const end = offset + 4 + len;
    if (end > buf.length) return { ok: false, reason: 'attribute overruns the message', header: true };
    if (hasFingerprint) return { ok: false, reason: 'attribute after FINGERPRINT', header: true };
    if (type === Attr.fingerprint) {
      if (len !== 4) return { ok: false, reason: 'bad FINGERPRINT length', header: true };
      const expected = (crc32(withLength(buf, offset + 8 - HEADER_LENGTH, offset)) ^ FINGERPRINT_XOR) >>> 0;
      // Not STUN after all (or corrupted): discarded silently, never answered (RFC 8489 §7.3).
      if (buf.readUInt32BE(offset + 4) !== expected)
        return { ok: false, reason: 'FINGERPRINT mismatch', header: false };
      hasFingerprint = true;
    } else if (type === Attr.messageIntegrity) {
      if (len !== 20) return { ok: false, reason: 'bad MESSAGE-INTEGRITY length', header: true };
      if (integrityOffset < 0) integrityOffset = offset;
    } else if (integrityOffset < 0) {
      // RFC 8489 §14.5: agents ignore every attribute after MESSAGE-INTEGRITY except FINGERPRINT.
      attributes.push({ type, value: buf.subarray(offset + 4, end) });
    }
    offset = end + ((4 - (len % 4)) % 4);
  }
  if (offset !== buf.length) return { ok: false, reason: 'padding overruns the message', header: true };
  return {
    ok: true,
    message: {
      method,
      cls,
      transactionId: buf.subarray(8, 20),
      attributes,
      integrityOffset,
      hasFingerprint,
      raw: buf,
    },
  };
}

/**
 * The bytes an integrity or fingerprint check covers: the message up to `end`, with the header's length
 * field rewritten to `length` (RFC 8489 §14.5, §14.7). A copy, so the datagram is left as it came.
 */
export function withLength(buf: Buffer, length: number, end: number): Buffer {
  const copy = Buffer.from(buf.subarray(0, end));
  copy.writeUInt16BE(length, 2);
  return copy;
}

export function getAttr(message: StunMessage, type: number): Buffer | undefined {
  for (const a of message.attributes) if (a.type === type) return a.value;
  return undefined;
}

export function getAllAttrs(message: StunMessage, type: number): Buffer[] {
  return message.attributes.filter((a) => a.type === type).map((a) => a.value);
}

/** A UTF-8 attribute (USERNAME, REALM, NONCE, SOFTWARE) or undefined. */
export function getText(message: StunMessage, type: number): string | undefined {
  return getAttr(message, type)?.toString('utf8');
}

export interface TransportAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/**
 * Decode an (XOR-)address attribute (RFC 8489 §14.1-§14.2); null when malformed. The IPv6 XOR needs the
 * transaction id.
 */
export function decodeAddress(value: Buffer, xor: boolean, transactionId: Buffer): TransportAddress | null {
  if (value.length < 4) return null;
  const family = value[1];
  let port = value.readUInt16BE(2);
  if (xor) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01 && value.length === 8) {
    const raw = value.readUInt32BE(4);
    const n = xor ? (raw ^ MAGIC_COOKIE) >>> 0 : raw;
    return { address: `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`, port, family: 'IPv4' };
  }
  if (family === 0x02 && value.length === 20) {
    const bytes = Buffer.from(value.subarray(4, 20));
    if (xor) {
      const mask = Buffer.alloc(16);
      mask.writeUInt32BE(MAGIC_COOKIE, 0);
      transactionId.copy(mask, 4);
      for (let i = 0; i < 16; i++) bytes[i]! ^= mask[i]!;
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return { address: compressIpv6(groups.join(':')), port, family: 'IPv6' };
  }
  return null;
}

function compressIpv6(full: string): string {
  // Longest run of zero groups becomes '::' (RFC 5952 §4.2.3), so the form matches what sockets report.
  const groups = full.split(':');
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export function encodeAddress(addr: TransportAddress, xor: boolean, transactionId: Buffer): Buffer {
  const v6 = addr.family === 'IPv6';
  const out = Buffer.alloc(v6 ? 20 : 8);
  out[1] = v6 ? 0x02 : 0x01;
  out.writeUInt16BE(xor ? addr.port ^ (MAGIC_COOKIE >>> 16) : addr.port, 2);
  if (!v6) {
    const n = ipBytes(addr.address)?.readUInt32BE(12);
    if (n === undefined) throw new RangeError(`not an IP address: ${addr.address}`);
    out.writeUInt32BE(xor ? (n ^ MAGIC_COOKIE) >>> 0 : n, 4);
    return out;
  }
  const bytes = ipBytes(addr.address);
  if (!bytes) throw new RangeError(`not an IP address: ${addr.address}`);
  if (xor) {
    const mask = Buffer.alloc(16);
    mask.writeUInt32BE(MAGIC_COOKIE, 0);
    transactionId.copy(mask, 4);
    for (let i = 0; i < 16; i++) bytes[i]! ^= mask[i]!;
  }
  bytes.copy(out, 4);
  return out;
}

/** Builds a STUN message; `integrity` and `fingerprint` close it (RFC 8489 §14.5, §14.7). */
export class StunWriter {
  private readonly parts: Buffer[] = [];
  private length = 0;

  constructor(
    readonly method: number,
    readonly cls: StunClass,
    readonly transactionId: Buffer,
  ) {}

  add(type: number, value: Buffer): this {
    const header = Buffer.alloc(4);
    header.writeUInt16BE(type, 0);
    header.writeUInt16BE(value.length, 2);
    const pad = (4 - (value.length % 4)) % 4;
    this.parts.push(header, value);
    if (pad) this.parts.push(Buffer.alloc(pad));
    this.length += 4 + value.length + pad;
    return this;
  }

  addText(type: number, text: string): this {
    return this.add(type, Buffer.from(text, 'utf8'));
  }

  addUint32(type: number, n: number): this {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(n >>> 0, 0);
    return this.add(type, v);
  }

  addAddress(type: number, addr: TransportAddress): this {
    const xor = type !== Attr.mappedAddress;
    return this.add(type, encodeAddress(addr, xor, this.transactionId));
  }

  /** ERROR-CODE (RFC 8489 §14.8). */
  addError(code: number, reason: string): this {
    const text = Buffer.from(reason, 'utf8');
    const v = Buffer.alloc(4 + text.length);
    v[2] = Math.floor(code / 100);
    v[3] = code % 100;
    text.copy(v, 4);
    return this.add(Attr.errorCode, v);
  }

  private header(length: number): Buffer {
    const h = Buffer.alloc(HEADER_LENGTH);
    h.writeUInt16BE(encodeType(this.method, this.cls), 0);
    h.writeUInt16BE(length, 2);
    h.writeUInt32BE(MAGIC_COOKIE, 4);
    this.transactionId.copy(h, 8);
    return h;
  }

  /**
   * The finished message. With `integrityKey`, MESSAGE-INTEGRITY over everything before it; with
   * `fingerprint`, a FINGERPRINT last.
   */
  build(options: { integrityKey?: Buffer | undefined; fingerprint?: boolean } = {}): Buffer {
    let body = Buffer.concat(this.parts);
    if (options.integrityKey) {
      const mi = hmacSha1(options.integrityKey, [this.header(body.length + 24), body]);
      const attr = Buffer.alloc(24);
      attr.writeUInt16BE(Attr.messageIntegrity, 0);
      attr.writeUInt16BE(20, 2);
      mi.copy(attr, 4);
      body = Buffer.concat([body, attr]);
    }
    const message = Buffer.concat([this.header(body.length), body]);
    return options.fingerprint ? appendFingerprint(message) : message;
  }
}

/** A copy of a whole message with one more attribute at its end and the header's length updated. */
export function appendAttribute(message: Buffer, type: number, value: Buffer): Buffer {
  const attr = Buffer.alloc(4 + value.length + ((4 - (value.length % 4)) % 4));
  attr.writeUInt16BE(type, 0);
  attr.writeUInt16BE(value.length, 2);
  value.copy(attr, 4);
  const out = Buffer.concat([message, attr]);
  out.writeUInt16BE(out.length - HEADER_LENGTH, 2);
  return out;
}

/** A copy of a whole message with FINGERPRINT appended over all of it (RFC 8489 §14.7). */
export function appendFingerprint(message: Buffer): Buffer {
  const out = appendAttribute(message, Attr.fingerprint, Buffer.alloc(4));
  out.writeUInt32BE((crc32(out.subarray(0, out.length - 8)) ^ FINGERPRINT_XOR) >>> 0, out.length - 4);
  return out;
}

export function hmacSha1(key: Buffer, parts: Buffer[]): Buffer {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Check MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message up to the attribute, with the
 * header length covering it. Constant-time comparison.
 */
export function verifyIntegrity(message: StunMessage, key: Buffer): boolean {
  const at = message.integrityOffset;
  if (at < 0) return false;
  const expected = hmacSha1(key, [withLength(message.raw, at + 24 - HEADER_LENGTH, at)]);
  const given = message.raw.subarray(at + 4, at + 24);
  return timingSafeEqual(expected, given);
}

export function randomTransactionId(): Buffer {
  return randomBytes(12);
}
