/**
 * The bundled relay hands out allocations only for valid TURN REST API credentials. A real ICE agent
 * (@roamhq/wrtc) gathers relay candidates against it: a relay candidate appears only when the relay
 * granted an allocation.
 */
import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintTurnCredential, turnPassword } from '../credentials/rest-credentials.js';
import { freeUdpPort } from '../../test-support/processes.js';
import { loadTurnConfig } from '../config.js';
import type { Relay } from './relay.js';
import { startRelay } from './start-relay.js';

const SECRET = 'relay-test-secret';
let relay: Relay;

beforeAll(async () => {
  const port = await freeUdpPort();
  relay = await startRelay({
    ...loadTurnConfig({ TURN_PORT: String(port), TURN_TLS_PORT: '0' }),
    secrets: [SECRET],
  });
});
afterAll(() => relay.close());

/** Relay candidates a real ICE agent gathers with these credentials (relay-only policy). */
async function relayCandidates(username: string, credential: string): Promise<number> {
  const pc = new wrtc.RTCPeerConnection({
    iceServers: [{ urls: `turn:127.0.0.1:${relay.address.port}?transport=udp`, username, credential }],
    iceTransportPolicy: 'relay',
  });
  let relays = 0;
  const done = new Promise<void>((resolve) => {
    pc.onicecandidate = (e) => {
      if (!e.candidate) return resolve();
      if (/ typ relay /.test(e.candidate.candidate)) relays++;
    };
    setTimeout(resolve, 8000); // gathering gives up on its own well before this
  });
  pc.createDataChannel('x');
  await pc.setLocalDescription(await pc.createOffer());
  await done;
  pc.close();
  return relays;
}

describe('bundled relay credentials', () => {
  it('allocates for a credential minted with the secret', async () => {
    const { username, credential } = mintTurnCredential({ secret: SECRET, userId: 'alice', ttlSeconds: 600 });
    expect(await relayCandidates(username, credential)).toBeGreaterThan(0);
  });

  it.each([
    [
      'signed with another secret',
      () => mintTurnCredential({ secret: 'other', userId: 'mallory', ttlSeconds: 600 }),
    ],
    [
      'expired',
      () => mintTurnCredential({ secret: SECRET, userId: 'bob', ttlSeconds: 1, now: Date.now() - 10_000 }),
    ],
    // node-turn as shipped looks passwords up in a plain object, where these names resolve to
    // Object.prototype and Object: their string forms are the passwords an attacker would try.
    ['a __proto__ username', () => ({ username: '__proto__', credential: '[object Object]' })],
    [
      'a constructor username',
      () => ({ username: 'constructor', credential: 'function Object() { [native code] }' }),
    ],
    [
      'a REST-shaped username signed elsewhere',
      () => ({ username: '9999999999:eve', credential: turnPassword('x', '9999999999:eve') }),
    ],
  ])('refuses a credential %s', async (_name, make) => {
    const { username, credential } = make();
    expect(await relayCandidates(username, credential)).toBe(0);
  });
});
