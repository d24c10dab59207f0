/**
 * The relay registry as signaling's configuration describes it: the bundled relay (when one runs beside
 * this server) and the TURN_SERVERS fleet, probed as TURN_PROBE_* say, health changes logged.
 */
import type { Logger } from 'pino';
import {
  RelayRegistry,
  type BundledRelayOptions,
  type BundledRelayPorts,
  type RelayStatus,
} from '../../turn/fleet/registry.js';
import type { Clock } from '../../common/clock.js';
import type { SignalingConfig } from '../config.js';

export interface RegistryFromConfigOptions {
  /** Where the bundled relay listens, or null when none runs beside this server. */
  bundled: BundledRelayPorts | null;
  /** The bundled relay's load, 0-1 (e.g. allocations / TURN_TOTAL_QUOTA). */
  bundledLoad?: () => number;
  log?: Logger;
  clock?: Clock;
}

/** A registry, not yet started: call `start()` to begin probing, `close()` to stop. */
export function registryFromConfig(
  turn: SignalingConfig['turn'],
  options: RegistryFromConfigOptions,
): RelayRegistry {
  const { bundledLoad, log, clock } = options;
  const bundled: BundledRelayOptions | null =
    options.bundled === null
      ? null
      : {
          port: options.bundled.port,
          tcpPort: options.bundled.tcpPort ?? null,
          tlsPort: options.bundled.tlsPort ?? null,
          region: turn.embeddedRegion,
          ...(bundledLoad ? { load: bundledLoad } : {}),
        };
  return new RelayRegistry({
    relays: turn.servers,
    bundled,
    probeIntervalMs: turn.probe.intervalMs,
    probeTimeoutMs: turn.probe.timeoutMs,
    failureThreshold: turn.probe.failureThreshold,
    ...(clock ? { clock } : {}),
    onChange: (relay: RelayStatus) => {
      if (relay.healthy) log?.info({ relay: relay.id }, 'relay healthy again: back in ICE server lists');
      else log?.warn({ relay: relay.id }, 'relay unhealthy: left out of ICE server lists');
    },
  });
}
