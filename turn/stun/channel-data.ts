/**
 * ChannelData (RFC 8656 §12.4, §12.5): a 4-byte header (channel number, payload length) and the payload,
 * padded to a multiple of four bytes over a stream (TCP, TLS) and unpadded over UDP. Decoding, encoding and
 * padding live here once; the relay, its stream framing and the test client all use them.
 */

/**
 * Channel numbers a server accepts. RFC 8656 §12 narrowed them to 0x4000-0x4FFF, but RFC 5766 §11
 * clients (coturn's turnutils_uclient among them) still pick from 0x4000-0x7FFF, and coturn and pion
 * accept that range: refusing it breaks those clients and protects nothing on a port that carries only
 * STUN and ChannelData.
 */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x7fff;
export const CHANNEL_HEADER_LENGTH = 4;

/** ChannelData (RFC 8656 §12.4): first two bits 01, i.e. a channel number in MIN_CHANNEL-MAX_CHANNEL. */
export function isChannelData(buf: Buffer): boolean {
  return buf.length >= CHANNEL_HEADER_LENGTH && (buf[0]! & 0xc0) === 0x40;
}

/** Bytes of padding after a payload of `length` bytes on a stream (RFC 8656 §12.5). */
export function streamPadding(length: number): number {
  return (4 - (length % 4)) % 4;
}

/**
 * The channel and payload length of a ChannelData message, or null when the length field overruns the
 * buffer. Bytes past the payload (padding) are allowed, as RFC 8656 §12.5 says for UDP too.
 */
export function decodeChannelData(buf: Buffer): { channel: number; length: number } | null {
  if (!isChannelData(buf)) return null;
  const length = buf.readUInt16BE(2);
  if (CHANNEL_HEADER_LENGTH + length > buf.length) return null;
  return { channel: buf.readUInt16BE(0), length };
}

/**
 * A ChannelData message carrying `payload` (or `payload[offset, offset + length)`), padded when it goes
 * over a stream. One buffer, made once: this is the relay's per-packet allocation.
 */
export function encodeChannelData(
  channel: number,
  payload: Buffer,
  stream: boolean,
  offset = 0,
  length = payload.length - offset,
): Buffer {
  const pad = stream ? streamPadding(length) : 0;
  const out = Buffer.allocUnsafe(CHANNEL_HEADER_LENGTH + length + pad);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(length, 2);
  payload.copy(out, CHANNEL_HEADER_LENGTH, offset, offset + length);
  if (pad) out.fill(0, CHANNEL_HEADER_LENGTH + length);
  return out;
}
