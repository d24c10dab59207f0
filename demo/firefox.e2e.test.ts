/**
 * The video call page in Firefox ESR (headless, WebDriver BiDi, fake camera and microphone) with the same
 * page in Chromium: both join one room through the form, see each other's tile with a `direct` badge,
 * and decode each other's video and receive each other's audio.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDemoBundle,
  joinThroughUi,
  launchDemoBrowser,
  until,
  type DemoBrowser,
} from '../test-support/demo-browser.js';
import { inboundOf, type PeerStats } from '../test-support/demo-stats.js';
import { launchFirefox, type RunningFirefox } from '../test-support/firefox.js';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { requireTool } from '../test-support/tools.js';

const LONG = { timeout: 60_000, interval: 250 };
const firefoxPath = requireTool('/usr/bin/firefox-esr');
const chromiumPath = requireTool('/usr/bin/chromium');
let sig: RunningSignaling;
let firefox: RunningFirefox;
let chromium: DemoBrowser;

beforeAll(async () => {
  if (!firefoxPath || !chromiumPath) return;
  await buildDemoBundle();
  // The pages take their token from the development route, off by default with a real JWT secret.
  sig = await startSignaling({ DEV_TOKENS: 'true' });
  firefox = await launchFirefox(firefoxPath);
  chromium = await launchDemoBrowser(chromiumPath);
}, 120_000);

afterAll(async () => {
  await firefox?.close();
  await chromium?.close();
  await sig?.close();
});

const received = (all: PeerStats[]) => {
  const s = all[0];
  return (
    !!s &&
    (inboundOf(s, 'video')?.framesDecoded ?? 0) > 0 &&
    (inboundOf(s, 'audio')?.packetsReceived ?? 0) > 0
  );
};

describe.skipIf(!firefoxPath || !chromiumPath)('video call page in Firefox ESR', () => {
  it('Firefox and Chromium join through the form and decode each other’s video and audio, directly', async () => {
    const fox = await firefox.browser.newPage();
    await fox.goto(`${sig.httpUrl}/call.html`);
    await fox.locator('#room').fill('fox-standup');
    await fox.locator('#name').fill('Fox');
    await fox.locator('#join').click();
    await fox.waitForFunction(() => window.__demo?.phase === 'joined', { timeout: 60_000 });

    const { page: chrome } = await chromium.newPage();
    await chrome.goto(`${sig.httpUrl}/call.html`);
    await joinThroughUi(chrome, { room: 'fox-standup', name: 'Chrome' });

    const foxTiles = () =>
      fox.evaluate(() =>
        Array.from(document.querySelectorAll('.tile:not(.local) .name')).map((e) => e.textContent),
      );
    const foxBadges = () =>
      fox.evaluate(() =>
        Array.from(document.querySelectorAll('.tile:not(.local) .badge')).map((e) => e.textContent),
      );
    await expect.poll(foxTiles, LONG).toEqual(['Chrome']);
    await expect
      .poll(() => chrome.locator('.tile:not(.local) .name').allTextContents(), LONG)
      .toEqual(['Fox']);
    await expect.poll(foxBadges, LONG).toEqual(['direct']);
    await expect
      .poll(() => chrome.locator('.tile:not(.local) .badge').allTextContents(), LONG)
      .toEqual(['direct']);

    await until(() => fox.evaluate(() => window.__demo.stats() as Promise<PeerStats[]>), received, {
      what: 'Firefox decoding Chromium’s video and receiving its audio',
    });
    await until(() => chrome.evaluate(() => window.__demo.stats() as Promise<PeerStats[]>), received, {
      what: 'Chromium decoding Firefox’s video and receiving its audio',
    });
    await fox.close();
    await chrome.close();
  }, 150_000);
});
