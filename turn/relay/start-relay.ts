/** Start the bundled relay behind the one relay interface. */
import type { Logger } from 'pino';
import type { TurnConfig } from '../config.js';
import { startNodeTurnRelay } from './node-turn-relay.js';
import type { Relay } from './relay.js';

export interface RelayOptions extends Omit<TurnConfig, 'metricsPort'> {
  logger?: Logger;
  now?: () => number;
}

export function startRelay(options: RelayOptions): Promise<Relay> {
  return startNodeTurnRelay(options);
}
