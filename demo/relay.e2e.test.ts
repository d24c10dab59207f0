/**
 * Relay-only mode in real Chromium: two call pages with “Relay only” ticked (iceTransportPolicy
 * 'relay') reach each other through the bundled TURN relay, with credentials minted by signaling from
 * the shared secret. The selected candidate pair is a relay pair and media flows through it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTurnConfig } from '../turn/config.js';
import type { Relay } from '../turn/relay/relay.js';
import { startRelay } from '../turn/relay/start-relay.js';
import { startSignaling, TEST_TURN_SECRET, type RunningSignaling } from '../test-support/signaling.js';
import { freeUdpPort } from '../test-support/processes.js';
import { requireTool } from '../test-support/tools.js';
import {
  buildDemoBundle,
  joinThroughUi,
  launchDemoBrowser,
  screenshot,
  until,
  type DemoBrowser,
  type DemoPage,
} from '../test-support/demo-browser.js';
import { inboundOf, type PeerStats } from '../test-support/demo-stats.js';

const chromiumPath = requireTool('/usr/bin/chromium');
const LONG = { timeout: 60_000, interval: 250 };

let relay: Relay;
let sig: RunningSignaling;
let browser: DemoBrowser;
const pages: DemoPage[] = [];

beforeAll(async () => {
  if (!chromiumPath) return;
  await buildDemoBundle();
  relay = await startRelay({
    ...loadTurnConfig({
      TURN_PORT: String(await freeUdpPort()),
      TURN_TLS_PORT: '0',

      // Both browsers are on this machine: their relayed peers are loopback, which the default refuses.
      TURN_ALLOWED_PEER_IPS: '127.0.0.0/8',
    }),
    secrets: [TEST_TURN_SECRET],
  });
  sig = await startSignaling({}, { embeddedRelay: relay.address });
  browser = await launchDemoBrowser(chromiumPath);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await sig?.close();
  await relay?.close();
});

const statsOf = (p: DemoPage): Promise<PeerStats[]> =>
  p.page.evaluate(() => window.__demo.stats() as Promise<PeerStats[]>);

describe.skipIf(!chromiumPath)('relay-only call through the bundled relay', () => {
  it('two relay-only pages see and hear each other over a relay candidate pair', async () => {
    for (const name of ['Alice', 'Bob']) {
      const p = await browser.newPage();
      await p.page.goto(`${sig.httpUrl}/call.html`);
      await joinThroughUi(p.page, { room: 'relayed', name, relayOnly: true });
      pages.push(p);
    }
    for (const p of pages) {
      await expect
        .poll(() => p.page.locator('.tile:not(.local) .badge').allTextContents(), LONG)
        .toEqual(['relay']);
    }
    for (const p of pages) {
      const [s] = await until(
        () => statsOf(p),
        ([x]) =>
          !!x &&
          (inboundOf(x, 'video')?.framesDecoded ?? 0) > 10 &&
          (inboundOf(x, 'audio')?.packetsReceived ?? 0) > 10,
        { what: 'media through the relay' },
      );
      // With iceTransportPolicy 'relay' our own end is a TURN relay candidate.
      expect(s!.localCandidateType).toBe('relay');
      expect(s!.path).toBe('relay');
    }
    await expect
      .poll(() => pages[1]!.page.locator('.tile:not(.local) .stats').textContent(), LONG)
      .toMatch(/\d+ kbit\/s .*relay→relay/);
    await screenshot(pages[1]!.page, 'call-relay.png');
    for (const p of pages) expect(p.pageErrors).toEqual([]);
  }, 180_000);
});
