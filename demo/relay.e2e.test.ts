/**
 * The README's relay-only demo, as a new user runs it: `npm start`'s entry point with nothing configured
 * but free ports (the development default: signaling and the bundled relay under the supervisor, the relay
 * on every local address of a host that has more than loopback), then two call pages opened at
 * http://localhost with “Relay only” ticked (iceTransportPolicy 'relay'). They reach each other through
 * the bundled TURN relay with credentials minted by signaling; the selected pair is a relay pair and
 * media flows through it. This failed on any multi-address host while the relay answered from one
 * wildcard socket.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SIGNALING_STARTED,
  freeTcpPort,
  freeUdpPort,
  startScript,
  type Proc,
} from '../test-support/processes.js';
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

let app: Proc | undefined;
let baseUrl: string;
let browser: DemoBrowser;
const pages: DemoPage[] = [];

beforeAll(async () => {
  if (!chromiumPath) return;
  await buildDemoBundle();
  const port = await freeTcpPort();
  app = startScript('signaling/main.ts', [], {
    PORT: String(port),
    TURN_PORT: String(await freeUdpPort()),
    TURN_TLS_PORT: String(await freeTcpPort()),
    LOG_LEVEL: 'info',
  });
  await app.waitFor(SIGNALING_STARTED, 60_000);
  baseUrl = `http://localhost:${port}`;
  browser = await launchDemoBrowser(chromiumPath);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  app?.kill('SIGTERM');
  await app?.exited;
});

const statsOf = (p: DemoPage): Promise<PeerStats[]> =>
  p.page.evaluate(() => window.__demo.stats() as Promise<PeerStats[]>);

describe.skipIf(!chromiumPath)('relay-only call through the bundled relay', () => {
  it('two relay-only pages see and hear each other over a relay candidate pair', async () => {
    for (const name of ['Alice', 'Bob']) {
      const p = await browser.newPage();
      await p.page.goto(`${baseUrl}/call.html`);
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
