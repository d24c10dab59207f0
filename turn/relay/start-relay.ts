/** Start the bundled relay behind the one relay interface. */
import type { TurnConfig } from '../config.js';
import type { Relay } from './relay.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

export type RelayOptions = Omit<TurnConfig, 'metricsPort'> & Partial<TurnServerOptions>;

export function startRelay(options: RelayOptions): Promise<Relay> {
  return TurnServer.start(options);
}
