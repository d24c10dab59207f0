/**
 * Signals (descriptions and candidates) for one remote peer, in order: sent at once while signaling can
 * carry them, else queued (the newest `max`, oldest dropped first) until `flush()` once it can again.
 */
import type { SignalPayload } from '../../signaling/protocol/light/index.js';

export interface OutboxWire {
  /** Signaling can carry frames to this peer now. */
  open(): boolean;
  /** Hand one signal to signaling; false if it did not take it. */
  send(signal: SignalPayload): boolean;
}

export class SignalOutbox {
  private readonly queue: SignalPayload[] = [];

  constructor(
    private readonly wire: OutboxWire,
    private readonly max: number,
  ) {}

  send(signal: SignalPayload): void {
    if (this.queue.length === 0 && this.wire.open() && this.wire.send(signal)) return;
    this.queue.push(signal);
    if (this.queue.length > this.max) this.queue.shift();
  }

  flush(): void {
    while (this.queue.length > 0 && this.wire.open()) {
      if (!this.wire.send(this.queue[0]!)) return;
      this.queue.shift();
    }
  }
}
