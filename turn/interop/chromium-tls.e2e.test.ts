/**
 * TURN over TLS with a real browser ICE agent: two relay-only RTCPeerConnections in headless Chromium,
 * given only the bundled relay's `turns:` URL, connect through it and carry data; the selected local
 * candidate is a relay candidate whose `relayProtocol` is `tls`. The relay serves the self-signed
 * certificate of the development default, which Chromium is told to accept (--ignore-certificate-errors):
 * the point is the relay's TLS and framing, not the certificate's issuer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { startLoopbackRelay } from '../../test-support/relayed-call.js';
import { CHROMIUM_ARGS, serveStatic, type StaticServer } from '../../test-support/sdk-browser.js';
import { TEST_TURN_SECRET } from '../../test-support/signaling.js';
import { requireTool } from '../../test-support/tools.js';
import { chromium, type Browser } from 'playwright-core';
import type { Relay } from '../relay/relay.js';

const chromiumPath = requireTool('/usr/bin/chromium');

/** Two relay-only peers in one page; resolves with what the offerer's selected pair says. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>tls</title><script>
window.call = async (iceServers) => {
  const config = { iceServers, iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const got = [];
  b.ondatachannel = (e) => (e.channel.onmessage = (m) => got.push(m.data));
  const channel = a.createDataChannel('d');
  await a.setLocalDescription();
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription();
  await a.setRemoteDescription(b.localDescription);
  await new Promise((resolve, reject) => {
    channel.onopen = resolve;
    setTimeout(() => reject(new Error('channel did not open, ICE ' + a.iceConnectionState)), 30000);
  });
  for (let i = 0; i < 50; i++) channel.send('m' + i);
  for (let t = 0; got.length < 50 && t < 200; t++) await new Promise((r) => setTimeout(r, 50));
  const stats = [...(await a.getStats()).values()];
  const transport = stats.find((s) => s.type === 'transport');
  const pair = stats.find((s) => s.id === transport.selectedCandidatePairId);
  const local = stats.find((s) => s.id === pair.localCandidateId);
  window.peers = [a, b];
  return { got, candidateType: local.candidateType, relayProtocol: local.relayProtocol, url: local.url };
};
</script>`;

let relay: Relay;
let page: StaticServer;
let browser: Browser;

beforeAll(async () => {
  if (!chromiumPath) return;
  relay = await startLoopbackRelay({ tlsPort: 0 });
  page = await serveStatic({ '/': { type: 'text/html', body: PAGE } });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await relay?.close();
});

describe.skipIf(!chromiumPath)('TURN over TLS with Chromium', () => {
  it('connects two relay-only peers through the bundled relay over TLS only, data both ways', async () => {
    const tlsPort = relay.address.tlsPort!;
    const cred = mintTurnCredential({ secret: TEST_TURN_SECRET, userId: 'chromium', ttlSeconds: 600 });
    const iceServers = [
      {
        urls: `turns:127.0.0.1:${tlsPort}?transport=tcp`,
        username: cred.username,
        credential: cred.credential,
      },
    ];
    const tab = await browser.newPage();
    await tab.goto(page.url);
    const result = await tab.evaluate<{ got: string[]; candidateType: string; relayProtocol: string }>(
      `window.call(${JSON.stringify(iceServers)})`,
    );
    expect(result.got).toHaveLength(50);
    expect(result.candidateType).toBe('relay');
    expect(result.relayProtocol).toBe('tls');
    // Both peers hold allocations made over TLS, and the data went through the relay.
    expect(relay.stats().allocationsByTransport.tls).toBeGreaterThanOrEqual(2);
    expect(relay.stats().allocationsByTransport.udp).toBe(0);
    expect(relay.stats().counters.packetsToPeer).toBeGreaterThan(10);
    await tab.close();
  }, 90_000);
});
