/**
 * The bundled relay's options as its tests start it: as it ships (every local address, no external
 * mapping), on a free port, loopback peers allowed, modest quotas. Each test file passes its own realm,
 * secrets and relay port range (files run in parallel, so their ranges do not overlap) and any overrides.
 */
import type { TurnServerOptions } from '../turn/relay/options.js';

export function testRelayOptions(
  own: Pick<TurnServerOptions, 'realm' | 'secrets' | 'minPort' | 'maxPort'> & Partial<TurnServerOptions>,
): TurnServerOptions {
  return {
    hosts: ['0.0.0.0', '::'],
    externalIps: [],
    port: 0,
    allowedPeers: ['127.0.0.0/8', '::1/128'],
    deniedPeers: [],
    userQuota: 10,
    totalQuota: 100,
    maxLifetimeSec: 3600,
    ...own,
  };
}
