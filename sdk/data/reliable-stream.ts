/**
 * Exactly-once, in-order delivery of one pair's reliable messages across path switches (peer link ⇄
 * WebSocket). The sender numbers messages from 1 and keeps each until a cumulative ack covers it; after a
 * switch every unacked message is sent again on the new path (`newEpoch`). The receiver drops what it
 * already delivered, holds what arrives early, and delivers in sequence order. Pure logic: no timers.
 */
import { SdkError } from '../errors.js';
import type { EncodedPayload } from './frames.js';

export interface Outgoing extends EncodedPayload {
  seq: number;
  /** Path epoch in which it was last sent; -1 never. */
  sentEpoch: number;
  sentAt: number;
}

export class ReliableSender {
  private nextSeq = 1;
  private readonly unacked: Outgoing[] = [];
  private epoch = 0;

  constructor(private readonly maxUnacked: number) {}

  push(payload: EncodedPayload): Outgoing {
    if (this.unacked.length >= this.maxUnacked) throw new SdkError('send_buffer_full');
    const out: Outgoing = { ...payload, seq: this.nextSeq++, sentEpoch: -1, sentAt: 0 };
    this.unacked.push(out);
    return out;
  }

  /** Drop everything up to and including `cumulative`. */
  ack(cumulative: number): void {
    let n = 0;
    while (n < this.unacked.length && this.unacked[n]!.seq <= cumulative) n++;
    if (n > 0) this.unacked.splice(0, n);
  }

  /** The path changed: everything unacked is due again. */
  newEpoch(): void {
    this.epoch++;
  }

  /**
   * Messages to (re)send now: those not yet sent on the current path, and, when `retransmitMs` is finite,
   * those sent longer ago than that (the WebSocket path can drop frames: rate limits, a dying socket).
   */
  due(now: number, retransmitMs: number): Outgoing[] {
    return this.unacked.filter((o) => o.sentEpoch !== this.epoch || now - o.sentAt >= retransmitMs);
  }

  markSent(out: Outgoing, now: number): void {
    out.sentEpoch = this.epoch;
    out.sentAt = now;
  }

  get pending(): number {
    return this.unacked.length;
  }

  /** ms until the oldest sent message becomes due for retransmission, or null if none is waiting. */
  nextRetransmitIn(now: number, retransmitMs: number): number | null {
    let soonest: number | null = null;
    for (const o of this.unacked) {
      if (o.sentEpoch !== this.epoch) return 0;
      const wait = Math.max(0, o.sentAt + retransmitMs - now);
      soonest = soonest === null ? wait : Math.min(soonest, wait);
    }
    return soonest;
  }
}

export class ReliableReceiver<T> {
  private expected = 1;
  private readonly held = new Map<number, T>();

  constructor(private readonly maxHeld: number) {}

  /** Accept message `seq`; returns what can now be delivered, in order (empty for duplicates). */
  accept(seq: number, message: T): T[] {
    if (seq < this.expected || this.held.has(seq)) return [];
    if (seq > this.expected) {
      // Too far ahead to hold: drop it; the sender keeps it and sends it again.
      if (this.held.size < this.maxHeld) this.held.set(seq, message);
      return [];
    }
    const out = [message];
    this.expected++;
    for (let next = this.held.get(this.expected); next !== undefined; next = this.held.get(this.expected)) {
      this.held.delete(this.expected);
      out.push(next);
      this.expected++;
    }
    return out;
  }

  /** Highest sequence number delivered with no gap before it. */
  get cumulativeAck(): number {
    return this.expected - 1;
  }
}
