/**
 * TURN over TCP (RFC 8656 §3.1, §12.5): a byte stream of STUN messages and ChannelData messages. A STUN
 * message's length is in its header; a ChannelData message is padded to a multiple of four bytes over a
 * stream. Anything else means the stream is not TURN, and the connection is closed: a frame starting
 * like STUN without the magic cookie, or ChannelData before any STUN message (a client has to allocate and
 * bind a channel first, so HTTP or TLS bytes that happen to look like ChannelData are caught at once).
 */
import { CHANNEL_HEADER_LENGTH, streamPadding } from '../stun/channel-data.js';
import { HEADER_LENGTH, MAGIC_COOKIE } from '../stun/message.js';

/** Largest frame: a STUN message of 65 535 attribute bytes. */
const MAX_FRAME = HEADER_LENGTH + 0xffff;

export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private sawStun = false;

  /**
   * Add bytes from the stream; returns the complete frames they finish, or null when the stream is not
   * TURN (the caller closes the connection).
   */
  push(chunk: Buffer): Buffer[] | null {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    while (this.buffered.length - offset >= 4) {
      const kind = this.buffered[offset]! & 0xc0;
      const length = this.buffered.readUInt16BE(offset + 2);
      let size: number;
      if (kind === 0x00) {
        if (this.buffered.length - offset < 8) break;
        if (this.buffered.readUInt32BE(offset + 4) !== MAGIC_COOKIE) return null;
        size = HEADER_LENGTH + length;
        this.sawStun = true;
      } else if (kind === 0x40 && this.sawStun) size = CHANNEL_HEADER_LENGTH + length + streamPadding(length);
      else return null;
      if (size > MAX_FRAME + 4) return null;
      if (this.buffered.length - offset < size) break;
      // ChannelData keeps its padding out of the frame handed on; STUN frames are whole.
      const end = kind === 0x40 ? offset + CHANNEL_HEADER_LENGTH + length : offset + size;
      frames.push(this.buffered.subarray(offset, end));
      offset += size;
    }
    this.buffered = offset === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(offset);
    return frames;
  }

  /** Bytes waiting for the rest of their frame. */
  get pending(): number {
    return this.buffered.length;
  }
}
