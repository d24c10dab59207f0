/**
 * One timer for every connection: each tick pings the live ones and terminates those that did not answer
 * the previous ping. A connection is therefore closed between one and two intervals after it goes silent.
 */
import { every, systemClock, type Clock } from '../../common/clock.js';

export interface Beating {
  /** Set true by a pong (or any inbound frame); cleared by each ping. */
  alive: boolean;
  ping(): void;
  expire(): void;
}

export class Heartbeat {
  private readonly stop: () => void;

  constructor(
    private readonly members: () => Iterable<Beating>,
    intervalMs: number,
    clock: Clock = systemClock,
  ) {
    this.stop = every(clock, intervalMs, () => this.tick());
  }

  private tick(): void {
    for (const member of this.members()) {
      if (!member.alive) {
        member.expire();
        continue;
      }
      member.alive = false;
      member.ping();
    }
  }

  close(): void {
    this.stop();
  }
}
