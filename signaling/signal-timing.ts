/**
 * Signal relay latency without touching the dispatcher: each valid frame is dispatched inside an async
 * context that carries its arrival time, and the room bus is wrapped so that a `signal` handed to
 * `sendTo` observes (hand-over − arrival) when the bus has delivered it (in memory: written to the
 * recipient's socket; on Redis: published). The context follows the dispatcher's per-connection promise
 * chain, so the queue behind the sender's earlier messages is included, as a client would feel it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Histogram } from 'prom-client';
import type { RoomBus } from './rooms/room-bus.js';

const arrival = new AsyncLocalStorage<number>();

/** Run `handle` (the dispatch of one frame) with its arrival time, `performance.now()` ms, in scope. */
export function withArrival(arrivedAt: number, handle: () => void): void {
  arrival.run(arrivedAt, handle);
}

/**
 * `bus` itself for every member but `sendTo`, whose signals are timed into `histogram` (seconds). A proxy
 * rather than a class that re-declares the interface, so the bus can grow methods without this file.
 */
export function timeSignals<B extends RoomBus>(bus: B, histogram: Histogram): B {
  const sendTo = async (...args: Parameters<RoomBus['sendTo']>): Promise<boolean> => {
    const message: { type?: unknown } = args[2];
    const arrivedAt = message.type === 'signal' ? arrival.getStore() : undefined;
    const delivered = await bus.sendTo(...args);
    if (arrivedAt !== undefined && delivered) histogram.observe((performance.now() - arrivedAt) / 1000);
    return delivered;
  };
  return new Proxy(bus, {
    get(target, prop) {
      if (prop === 'sendTo') return sendTo;
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
