/**
 * Demo tests in real headless Chromium: the SDK bundle built into the demo (atomically, since two test
 * files may build at once while a page loads it), a browser with fake camera, microphone and screen, and
 * small helpers that drive the demo pages the way a person does (typing and clicking).
 */
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildBrowserBundle, DEFAULT_BROWSER_BUNDLE } from '../sdk/build-browser.js';

export const DEMO_CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Real host candidates instead of mDNS names: two pages on one machine have no mDNS responder.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  // Remote tiles play with sound; the Join click is a gesture, but headless may not count it.
  '--autoplay-policy=no-user-gesture-required',
];

export const SCREENSHOTS = fileURLToPath(new URL('../demo/screenshots/', import.meta.url));

/** Build the SDK bundle into `demo/public/vendor/`, swapping the files in with a rename. */
export async function buildDemoBundle(): Promise<void> {
  const vendor = dirname(DEFAULT_BROWSER_BUNDLE);
  mkdirSync(vendor, { recursive: true });
  const staging = mkdtempSync(join(vendor, '.build-'));
  try {
    const out = await buildBrowserBundle(join(staging, 'relay-sdk.js'));
    renameSync(`${out}.map`, `${DEFAULT_BROWSER_BUNDLE}.map`);
    renameSync(out, DEFAULT_BROWSER_BUNDLE);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export interface DemoBrowser {
  context: BrowserContext;
  /** A page with its console errors and uncaught exceptions collected. */
  newPage(): Promise<DemoPage>;
  close(): Promise<void>;
}

export interface DemoPage {
  page: Page;
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
}

export async function launchDemoBrowser(
  executablePath: string,
  extraArgs: string[] = [],
): Promise<DemoBrowser> {
  const userDataDir = mkdtempSync(join(tmpdir(), 'relay-demo-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [...DEMO_CHROMIUM_ARGS, ...extraArgs],
    viewport: { width: 1280, height: 760 },
  });
  let closed: Promise<void> | null = null;
  return {
    context,
    newPage: async () => {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(String(e)));
      return { page, pageErrors };
    },
    close: () =>
      (closed ??= (async () => {
        await context.close().catch(() => {});
        rmSync(userDataDir, { recursive: true, force: true });
      })()),
  };
}

export interface JoinForm {
  room: string;
  name: string;
  relayOnly?: boolean;
  token?: string;
}

/** Fill the join form of the call or game page and press its button, like a person would. */
export async function fillAndJoin(page: Page, form: JoinForm): Promise<void> {
  await page.locator('#room').fill(form.room);
  await page.locator('#name').fill(form.name);
  if (form.relayOnly) await page.locator('#relay-only').check();
  if (form.token !== undefined) {
    await page.locator('summary', { hasText: 'Advanced' }).click();
    await page.locator('#token').fill(form.token);
  }
  await page.locator('#join').click();
}

/** Fill, join, and wait until the page says it is in the room. */
export async function joinThroughUi(page: Page, form: JoinForm): Promise<void> {
  await fillAndJoin(page, form);
  await page.waitForFunction(() => window.__demo?.phase === 'joined', undefined, { timeout: 60_000 });
}

/** The pages' `window.__demo` test hooks (loosely typed: the pages are plain JavaScript). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type DemoHook = any;
declare global {
  interface Window {
    __demo: DemoHook;
  }
}

/**
 * A screenshot of the page into `demo/screenshots/latest/` (not tracked), so a test run leaves a clean
 * checkout clean. With UPDATE_SCREENSHOTS=1 the ones the README shows (`call.png`, `game.png`) are also
 * written over the committed copies in `demo/screenshots/`.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(SCREENSHOTS, 'latest');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  // The page's content only, not the empty viewport below it.
  await page.locator('body').screenshot({ path });
  if (process.env.UPDATE_SCREENSHOTS === '1' && README_SCREENSHOTS.has(name))
    copyFileSync(path, join(SCREENSHOTS, name));
  return path;
}

/** The screenshots the README shows, committed in `demo/screenshots/`. */
const README_SCREENSHOTS = new Set(['call.png', 'game.png']);

/** Poll `read` until `ok` holds; returns the last value. For waits on outcomes, never on speed. */
export async function until<T>(
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  { timeoutMs = 45_000, intervalMs = 250, what = 'condition' } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value)) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
    value = await read();
  }
  return value;
}
