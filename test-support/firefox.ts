/**
 * Firefox ESR (Debian's `firefox-esr`), headless, driven over WebDriver BiDi by puppeteer-core 24 (25
 * needs Node 22.12). Preferences for tests on one machine:
 * - fake camera and microphone, no permission prompt (`media.navigator.streams.fake`,
 *   `media.navigator.permission.disabled`);
 * - TURN servers on loopback are used (`media.peerconnection.ice.loopback`: stock Firefox skips them, so
 *   the one-machine relay-only setup needs it) and host candidates are real addresses, not mDNS names
 *   (`media.peerconnection.ice.obfuscate_host_addresses`), as Chromium's tests run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export const FIREFOX_PREFS: Record<string, unknown> = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.autoplay.default': 0,
  // No background traffic to the closed network (updates, telemetry, safe browsing).
  'app.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
};

export interface RunningFirefox {
  browser: Browser;
  close(): Promise<void>;
}

export async function launchFirefox(executablePath: string): Promise<RunningFirefox> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'relay-firefox-'));
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath,
    headless: true,
    userDataDir,
    extraPrefsFirefox: FIREFOX_PREFS,
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
