/** Two real WebRTC peers (@roamhq/wrtc + simple-peer) find each other through the running server and talk. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinAsPeer, selectedCandidateType, type TestPeer } from '../test-support/webrtc-peer.js';
import { freeUdpPort } from '../test-support/processes.js';
import { startRelay } from '../turn/relay/start-relay.js';
import { loadTurnConfig } from '../turn/config.js';
import type { Relay } from '../turn/relay/relay.js';
import { TEST_TURN_SECRET } from '../test-support/signaling.js';

let sig: RunningSignaling | undefined;
let relay: Relay | undefined;
const peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await sig?.close();
  await relay?.close();
  relay = undefined;
});

describe('two Node peers through signaling', () => {
  it('connect on host candidates and exchange data-channel messages both ways', async () => {
    sig = await startSignaling();
    const a = await joinAsPeer(sig.wsUrl, sig.token('alice', ['call']), 'call');
    const b = await joinAsPeer(sig.wsUrl, sig.token('bob', ['call']), 'call');
    peers.push(a, b);
    await Promise.all([a.connected, b.connected]);
    a.link!.send('hello from a');
    b.link!.send('hello from b');
    await expect.poll(() => b.received).toContain('hello from a');
    await expect.poll(() => a.received).toContain('hello from b');
    expect(await selectedCandidateType(a.link!)).toBe('host');
    // The newcomer (b) offered; offer, answer and trickled candidates all went through the server.
    const toA = a.client.all('signal').map((s) => s.signal.type);
    expect(toA).toContain('offer');
    expect(toA).toContain('candidate');
    expect(b.client.all('signal').map((s) => s.signal.type)).toContain('answer');
  });

  it('connect relay-only through the bundled relay with the credentials from the welcome', async () => {
    const port = await freeUdpPort();
    relay = await startRelay({
      ...loadTurnConfig({
        TURN_PORT: String(port),
        TURN_TLS_PORT: '0',

        TURN_ALLOWED_PEER_IPS: '127.0.0.0/8',
      }),
      secrets: [TEST_TURN_SECRET],
    });
    sig = await startSignaling({}, { embeddedRelay: relay.address });
    const a = await joinAsPeer(sig.wsUrl, sig.token('alice', ['call']), 'call', { relayOnly: true });
    const b = await joinAsPeer(sig.wsUrl, sig.token('bob', ['call']), 'call', { relayOnly: true });
    peers.push(a, b);
    expect(a.iceServers).toContainEqual(
      expect.objectContaining({ urls: `turn:127.0.0.1:${port}?transport=udp` }),
    );
    await Promise.all([a.connected, b.connected]);
    a.link!.send('over the relay');
    await expect.poll(() => b.received).toContain('over the relay');
    expect(await selectedCandidateType(a.link!)).toBe('relay');
    expect(await selectedCandidateType(b.link!)).toBe('relay');
  });
});
