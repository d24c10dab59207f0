/** The figures of several relay workers as one relay's: every count summed (relay-workers.ts). */
import { newCounters, type RelayCounters } from './relay-metrics.js';
import type { RelayStats } from './relay.js';

export function emptyStats(): RelayStats {
  return {
    allocations: 0,
    allocationsByTransport: { udp: 0, tcp: 0, tls: 0 },
    relaySockets: 0,
    tcpConnections: 0,
    counters: newCounters(),
  };
}

/** Add `b` into `a`. */
export function addStats(a: RelayStats, b: RelayStats): void {
  a.allocations += b.allocations;
  for (const t of ['udp', 'tcp', 'tls'] as const) a.allocationsByTransport[t] += b.allocationsByTransport[t];
  a.relaySockets += b.relaySockets;
  a.tcpConnections += b.tcpConnections;
  addCounters(a.counters, b.counters);
}

function addCounters(a: RelayCounters, b: RelayCounters): void {
  for (const key of Object.keys(a) as Array<keyof RelayCounters>) {
    const v = a[key];
    if (typeof v === 'number') (a as unknown as Record<string, number>)[key] = v + (b[key] as number);
  }
  for (const [result, n] of b.allocate) a.allocate.set(result, (a.allocate.get(result) ?? 0) + n);
  const h = a.allocationLifetime;
  const o = b.allocationLifetime;
  for (let i = 0; i < h.counts.length; i++) h.counts[i]! += o.counts[i] ?? 0;
  h.sum += o.sum;
  h.count += o.count;
}
