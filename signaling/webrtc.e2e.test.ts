/** Two real WebRTC peers (@roamhq/wrtc + simple-peer) find each other through the running server and talk. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinAsPeer, selectedCandidateType, type TestPeer } from '../test-support/webrtc-peer.js';

let sig: RunningSignaling | undefined;
const peers: TestPeer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await sig?.close();
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
});
