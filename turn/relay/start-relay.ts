/** Start the bundled relay behind the one relay interface. */
import type { TurnConfig } from '../config.js';
import type { Relay } from './relay.js';
import { WorkerRelay } from './relay-workers.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

export type RelayOptions = Omit<TurnConfig, 'metricsPort' | 'workers' | 'workerMode'> &
  Partial<TurnServerOptions> & {
    /**
     * Worker threads, each owning the allocations of the clients that reach it (relay-workers.ts).
     * Default 1: one event loop, a plain TurnServer. TURN_WORKERS sets it for the entry points.
     */
    workers?: number | undefined;
    /** How workers share the listening port: 'auto' (default) or 'handoff' (relay-workers.ts). */
    workerMode?: 'auto' | 'handoff' | undefined;
  };

export function startRelay(options: RelayOptions): Promise<Relay> {
  const { workers = 1 } = options;
  if (workers > 1) return WorkerRelay.start({ ...options, workers });
  return TurnServer.start(options);
}
