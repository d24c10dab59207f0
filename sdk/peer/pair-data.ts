/**
 * One pair's application data over whichever path is up: the link when it is connected, otherwise
 * signaling `data` frames paced by the room's rate gate. Reliable messages are numbered and kept until
 * acked, so a path change resends what may have been lost and the receiver's dedupe makes delivery
 * exactly-once and in order; acks are batched. Unreliable messages take the current path or are dropped.
 * The session owns the link and says when the path changes (`newPath`).
 */
import type { Clock, TimerHandle } from '../clock.js';
import {
  decodePayload,
  fromLinkText,
  toLinkText,
  type AppData,
  type EncodedPayload,
  type Frame,
} from '../data/frames.js';
import { ReliableReceiver, ReliableSender, type Outgoing } from '../data/reliable-stream.js';
import type { Link } from './link.js';

export interface PairDataHost {
  readonly clock: Clock;
  readonly tuning: {
    ackDelayMs: number;
    retransmitMs: number;
    maxUnackedMessages: number;
    maxHeldMessages: number;
  };
  /** The link, when it is connected; null otherwise. */
  connectedLink(): Link | null;
  /** Whether signaling can carry frames to the peer now. */
  canSignal(): boolean;
  takeFallbackToken(): boolean;
  fallbackWaitMs(): number;
  /** Send one frame to the peer over signaling; false when it could not go. */
  sendOverSignaling(frame: Frame): boolean;
  deliver(event: { channel: string | undefined; data: AppData; reliable: boolean }): void;
  /** A control frame (a relink request) from the peer. */
  onControl(frame: Frame & { kind: 'control' }): void;
}

function reliableFrame(o: Outgoing): Frame & { kind: 'reliable' } {
  return { kind: 'reliable', seq: o.seq, channel: o.channel, payload: o.payload, binary: o.binary };
}

export class PairData {
  private readonly sender: ReliableSender;
  private readonly receiver: ReliableReceiver<EncodedPayload>;
  private flushTimer: TimerHandle | null = null;
  private flushAt = 0;
  private ackTimer: TimerHandle | null = null;
  private closed = false;

  constructor(private readonly host: PairDataHost) {
    this.sender = new ReliableSender(host.tuning.maxUnackedMessages);
    this.receiver = new ReliableReceiver(host.tuning.maxHeldMessages);
  }

  /** Reliable messages sent and not yet acked. */
  get pending(): number {
    return this.sender.pending;
  }

  sendReliable(payload: EncodedPayload): void {
    this.sender.push(payload);
    this.flush();
  }

  sendUnreliable(payload: EncodedPayload): boolean {
    if (this.closed) return false;
    const frame: Frame = { kind: 'unreliable', ...payload };
    const link = this.host.connectedLink();
    if (link) return link.sendUnreliable(toLinkText(frame));
    if (!this.host.canSignal() || !this.host.takeFallbackToken()) return false;
    return this.host.sendOverSignaling(frame);
  }

  /** The path changed: everything unacked goes again on the new one (the receiver drops duplicates). */
  newPath(): void {
    this.sender.newEpoch();
    this.flush();
  }

  /** Ack again what was received, on a new link (an ack sent on the old path may have been lost). */
  reack(): void {
    if (this.receiver.cumulativeAck > 0) this.scheduleAck();
  }

  /** Send what is due on the current path; on the WebSocket path, paced by the room's rate gate. */
  flush(): void {
    if (this.closed) return;
    const now = this.host.clock.now();
    const link = this.host.connectedLink();
    if (link) {
      for (const o of this.sender.due(now, Infinity)) {
        if (!link.send(toLinkText(reliableFrame(o)))) return;
        this.sender.markSent(o, now);
      }
      return;
    }
    // No link up (yet): signaling carries the data, from the first moment (as socket.io starts on
    // long-polling and upgrades), so a pair never waits for ICE or its deadline before data flows.
    if (!this.host.canSignal()) return;
    const { retransmitMs } = this.host.tuning;
    for (const o of this.sender.due(now, retransmitMs)) {
      if (!this.host.takeFallbackToken()) return this.scheduleFlush(this.host.fallbackWaitMs());
      if (!this.host.sendOverSignaling(reliableFrame(o))) return;
      this.sender.markSent(o, now);
    }
    const next = this.sender.nextRetransmitIn(now, retransmitMs);
    if (next !== null) this.scheduleFlush(next);
  }

  /**
   * Flush again in `ms`, or sooner if a flush is already due sooner. A later flush must not hold back
   * an earlier one: a retransmit timer set after the first frame of a burst would otherwise pace the
   * rest of the burst at one frame per `retransmitMs` instead of the rate gate's pace.
   */
  private scheduleFlush(ms: number): void {
    const at = this.host.clock.now() + Math.max(ms, 5);
    if (this.flushTimer !== null) {
      if (this.flushAt <= at) return;
      this.host.clock.clearTimeout(this.flushTimer);
    }
    this.flushAt = at;
    this.flushTimer = this.host.clock.setTimeout(
      () => {
        this.flushTimer = null;
        this.flush();
      },
      Math.max(ms, 5),
    );
  }

  /** Text from the link (reliable and unreliable channels). */
  receiveLinkText(text: string): void {
    const frame = fromLinkText(text);
    if (frame) this.receive(frame);
  }

  /** A frame from either path. */
  receive(frame: Frame): void {
    if (this.closed) return;
    switch (frame.kind) {
      case 'ack':
        this.sender.ack(frame.seq);
        return;
      case 'unreliable':
        this.host.deliver({ channel: frame.channel, data: decodePayload(frame), reliable: false });
        return;
      case 'reliable': {
        const ready = this.receiver.accept(frame.seq, {
          channel: frame.channel,
          payload: frame.payload,
          binary: frame.binary,
        });
        for (const m of ready)
          this.host.deliver({ channel: m.channel, data: decodePayload(m), reliable: true });
        this.scheduleAck();
        return;
      }
      case 'control':
        this.host.onControl(frame);
        return;
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer !== null) return;
    this.ackTimer = this.host.clock.setTimeout(() => {
      this.ackTimer = null;
      this.sendAck();
    }, this.host.tuning.ackDelayMs);
  }

  private sendAck(): void {
    if (this.closed) return;
    const frame: Frame = { kind: 'ack', seq: this.receiver.cumulativeAck };
    if (this.host.connectedLink()?.send(toLinkText(frame))) return;
    if (!this.host.canSignal()) return; // acked again after the next message or reconnect
    if (!this.host.takeFallbackToken()) {
      this.ackTimer = this.host.clock.setTimeout(
        () => {
          this.ackTimer = null;
          this.sendAck();
        },
        Math.max(this.host.fallbackWaitMs(), 5),
      );
      return;
    }
    this.host.sendOverSignaling(frame);
  }

  /** Idempotent: stops the flush and ack timers. */
  close(): void {
    this.closed = true;
    for (const timer of [this.flushTimer, this.ackTimer])
      if (timer !== null) this.host.clock.clearTimeout(timer);
    this.flushTimer = null;
    this.ackTimer = null;
  }
}
