/**
 * TURN_EXTERNAL_IP on the wire: behind 1:1 NAT the relay advertises the public address of the local
 * address it relays from (coturn's `external-ip` public/private pairs), while the relay socket stays bound
 * to the local one; loopback is never mapped.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient } from '../../test-support/turn-client.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { parseExternalIps } from './listen-addresses.js';
import { TurnServer } from './turn-server.js';

const SECRET = 'external-ip-secret';
const defer = closeAfterEach();

async function allocateThrough(externalIps: string): Promise<string> {
  const relay = defer(
    await TurnServer.start(
      testRelayOptions({
        realm: 'external.test',
        secrets: [SECRET],
        minPort: 43000,
        maxPort: 43999,
        hosts: ['127.0.0.1', '::1'],
        externalIps: parseExternalIps(externalIps),
      }),
    ),
    (r) => r.close(),
  );
  const cred = mintTurnCredential({ secret: SECRET, userId: 'nat', ttlSeconds: 600 });
  const c = defer(
    await TurnClient.connect({ host: '::1', port: relay.address.port }, cred.username, cred.credential),
    (x) => x.close(),
  );
  expect((await c.allocate()).code).toBe(0);
  return c.relayed!.address;
}

describe('TURN_EXTERNAL_IP', () => {
  it('advertises the public side of a public/private pair for the local address it relays from', async () => {
    // A client on ::1 gets an IPv4 relay on 127.0.0.1 by default; the pair names that local address.
    expect(await allocateThrough('203.0.113.9/127.0.0.1')).toBe('203.0.113.9');
  });

  it('never maps loopback with a bare public address', async () => {
    expect(await allocateThrough('203.0.113.9')).toBe('127.0.0.1');
  });
});
