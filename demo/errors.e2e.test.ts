/**
 * Every failure a user of the demo can hit shows a visible error carrying the SDK's stable code: a bad
 * token, a full room, a denied camera, the server going away (mid-call, then on the next join), and a
 * peer that cannot be reached peer to peer (the tile says why in words).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { requireTool } from '../test-support/tools.js';
import { joinRoom, type TestRoom } from '../test-support/sdk-rooms.js';
import {
  buildDemoBundle,
  fillAndJoin,
  joinThroughUi,
  launchDemoBrowser,
  screenshot,
  type DemoBrowser,
  type DemoPage,
} from '../test-support/demo-browser.js';

const chromiumPath = requireTool('/usr/bin/chromium');
const LONG = { timeout: 60_000, interval: 250 };

let sig: RunningSignaling;
let browser: DemoBrowser;
let page: DemoPage;
const others: TestRoom[] = [];

beforeAll(async () => {
  if (!chromiumPath) return;
  await buildDemoBundle();
  sig = await startSignaling({ ROOM_SIZE_MAX: '2', DEV_TOKENS: 'true' });
  browser = await launchDemoBrowser(chromiumPath);
  page = await browser.newPage();
}, 120_000);

afterAll(async () => {
  for (const o of others) await o.room.close();
  await browser?.close();
  await sig?.close();
});

/** The codes of the error banners the page shows right now. */
const shownCodes = (p: DemoPage) =>
  p.page
    .locator('#errors .error[role="alert"]')
    .evaluateAll((nodes) => nodes.map((n) => (n as HTMLElement).dataset.code));

describe.skipIf(!chromiumPath)('demo errors', () => {
  it('a bad token: the page says the server refused it (unauthorized) and stays on the form', async () => {
    await page.page.goto(`${sig.httpUrl}/call.html`);
    // Signed with another secret: the server refuses the upgrade; the browser only sees the socket close.
    const forged = sig.token('mallory', ['standup']).replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    await fillAndJoin(page.page, { room: 'standup', name: 'Mallory', token: forged });
    await expect.poll(() => shownCodes(page), LONG).toEqual(['unauthorized']);
    expect(await page.page.evaluate(() => window.__demo.phase as string)).toBe('error');
    expect(await page.page.locator('#join-form').isVisible()).toBe(true);
    await screenshot(page.page, 'error-bad-token.png');
  }, 90_000);

  it('a full room: room_full', async () => {
    // ROOM_SIZE_MAX=2, and two Node peers take both seats.
    others.push(await joinRoom(sig, 'n1', 'tiny'), await joinRoom(sig, 'n2', 'tiny'));
    await page.page.goto(`${sig.httpUrl}/game.html`);
    await fillAndJoin(page.page, { room: 'tiny', name: 'Late' });
    await expect.poll(() => shownCodes(page), LONG).toEqual(['room_full']);
    expect(await page.page.evaluate(() => window.__demo.phase as string)).toBe('error');
  }, 90_000);

  it('a denied camera: camera_denied is shown and the page joins without sending media', async () => {
    const denying = await launchDemoBrowser(chromiumPath!, ['--use-fake-ui-for-media-stream=deny']);
    try {
      const p = await denying.newPage();
      await p.page.goto(`${sig.httpUrl}/call.html`);
      await joinThroughUi(p.page, { room: 'camera-shy', name: 'Shy' });
      await expect.poll(() => shownCodes(p), LONG).toEqual(['camera_denied']);
      expect(await p.page.evaluate(() => window.__demo.local().streamId as string | null)).toBeNull();
      await screenshot(p.page, 'error-camera-denied.png');
      await p.page.getByRole('button', { name: 'Leave' }).click();
      expect(p.pageErrors).toEqual([]);
    } finally {
      await denying.close();
    }
  }, 90_000);

  it('no media path: the tile says why in words (a relay-only call whose only TURN server is dead)', async () => {
    const p = await browser.newPage();
    // Relay only, through a TURN server nobody runs: the SDK names the cause, the tile shows it.
    await p.page.goto(`${sig.httpUrl}/call.html?ice=turn:127.0.0.1:9&p2pTimeout=2000`);
    await joinThroughUi(p.page, { room: 'why', name: 'Rita', relayOnly: true });
    const node = await joinRoom(sig, 'nora', 'why');
    others.push(node);
    const reason = p.page.locator(`.tile[data-peer="${node.room.peerId}"] .reason`);
    await expect.poll(() => reason.getAttribute('data-reason'), LONG).toBe('turn_unreachable');
    expect(await reason.textContent()).toBe('No media path: No TURN server could be reached.');
    expect(await reason.isVisible()).toBe(true);
    await screenshot(p.page, 'error-no-media-path.png');
    await p.page.getByRole('button', { name: 'Leave' }).click();
    expect(p.pageErrors).toEqual([]);
  }, 90_000);

  it('the server going away: a reconnecting warning mid-call, then server_unreachable on the next join', async () => {
    const doomed = await startSignaling({ DRAIN_TIMEOUT_MS: '200', DEV_TOKENS: 'true' });
    await page.page.goto(`${doomed.httpUrl}/game.html`);
    await joinThroughUi(page.page, { room: 'arena', name: 'Solo' });
    await doomed.close();
    await expect.poll(() => shownCodes(page), LONG).toEqual(['signaling_lost']);
    await expect.poll(() => page.page.locator('#notice').textContent(), LONG).toMatch(/reconnecting/);
    await screenshot(page.page, 'error-server-gone.png');

    await page.page.getByRole('button', { name: 'Leave' }).click();
    await page.page.locator('#join').click();
    await expect.poll(() => shownCodes(page), LONG).toEqual(['server_unreachable']);
    expect(page.pageErrors).toEqual([]);
  }, 90_000);
});
