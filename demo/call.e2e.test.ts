/**
 * The video call page in real Chromium (fake camera, microphone and screen): two pages join one room
 * through the form and see and hear each other peer to peer; screen share added mid-call reaches the
 * other page; mute silences the audio the other page receives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
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
import { inboundOf, type PeerStats, type TileInfo } from '../test-support/demo-stats.js';

const LONG = { timeout: 60_000, interval: 250 };

const chromiumPath = requireTool('/usr/bin/chromium');

let sig: RunningSignaling;
let browser: DemoBrowser;
let alice: DemoPage;
let bob: DemoPage;

beforeAll(async () => {
  if (!chromiumPath) return;
  await buildDemoBundle();
  // The pages take their token from the development route, off by default with a real JWT secret.
  sig = await startSignaling({ DEV_TOKENS: 'true' });
  browser = await launchDemoBrowser(chromiumPath);
  alice = await browser.newPage();
  bob = await browser.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await sig?.close();
});

const statsOf = (p: DemoPage): Promise<PeerStats[]> =>
  p.page.evaluate(() => window.__demo.stats() as Promise<PeerStats[]>);

describe.skipIf(!chromiumPath)('video call page', () => {
  it('two pages join one room through the form and decode each other’s video and audio, directly', async () => {
    for (const [p, name] of [
      [alice, 'Alice'],
      [bob, 'Bob'],
    ] as const) {
      // A newcomer starts on the landing page and follows its link.
      await p.page.goto(`${sig.httpUrl}/`);
      if (p === alice) await screenshot(p.page, 'landing.png');
      await p.page.getByRole('link', { name: /Video call/ }).click();
      await p.page.waitForURL(/\/call\.html$/);
      await joinThroughUi(p.page, { room: 'standup', name });
    }
    // Each page shows one remote tile named after the other, and its badge reads `direct`.
    await expect
      .poll(() => bob.page.locator('.tile:not(.local) .name').allTextContents(), LONG)
      .toEqual(['Alice']);
    await expect
      .poll(() => alice.page.locator('.tile:not(.local) .name').allTextContents(), LONG)
      .toEqual(['Bob']);
    for (const p of [alice, bob]) {
      await expect
        .poll(() => p.page.locator('.tile:not(.local) .badge').allTextContents(), LONG)
        .toEqual(['direct']);
    }

    // Video decodes and audio packets flow both ways, and keep flowing.
    const first = new Map<DemoPage, PeerStats>();
    for (const p of [alice, bob]) {
      const [s] = await until(
        () => statsOf(p),
        (all) => {
          const s = all[0];
          return (
            !!s &&
            (inboundOf(s, 'video')?.framesDecoded ?? 0) > 0 &&
            (inboundOf(s, 'audio')?.packetsReceived ?? 0) > 0
          );
        },
        { what: 'decoded video and received audio' },
      );
      first.set(p, s!);
      expect(s!.localCandidateType).not.toBe('relay');
      expect(s!.remoteCandidateType).not.toBe('relay');
    }
    for (const p of [alice, bob]) {
      const before = first.get(p)!;
      await until(
        () => statsOf(p),
        ([s]) =>
          !!s &&
          inboundOf(s, 'video')!.framesDecoded! > inboundOf(before, 'video')!.framesDecoded! + 10 &&
          inboundOf(s, 'audio')!.packetsReceived > inboundOf(before, 'audio')!.packetsReceived + 10,
        { what: 'video frames and audio packets to keep arriving' },
      );
    }
    // The overlay shows live numbers.
    await expect
      .poll(() => alice.page.locator('.tile:not(.local) .stats').textContent(), LONG)
      .toMatch(/RTT \d+ ms · \d+ kbit\/s · loss [\d.]+%/);
    expect(alice.pageErrors).toEqual([]);
    expect(bob.pageErrors).toEqual([]);
  }, 180_000);

  it('a screen shared mid-call reaches the other page', async () => {
    await alice.page.getByRole('button', { name: 'Share screen' }).click();
    await alice.page.getByRole('button', { name: 'Stop sharing' }).waitFor();
    // Bob gets a second tile from Alice, marked as a screen, whose video decodes.
    const screenTile = bob.page.locator('.tile.screen');
    await expect.poll(() => screenTile.count(), LONG).toBe(1);
    expect(await screenTile.locator('.name').textContent()).toBe('Alice · screen');
    const [tile] = await until(
      (): Promise<TileInfo[]> =>
        bob.page.evaluate(() => (window.__demo.tiles() as TileInfo[]).filter((t) => t.screen)),
      (tiles) => tiles.length === 1 && tiles[0]!.videoWidth > 0,
      { what: 'the screen tile to play' },
    );
    const screenTrack = tile!.trackIds[0]!;
    const framesOf = async () =>
      inboundOf((await statsOf(bob))[0]!, 'video', screenTrack)?.framesDecoded ?? 0;
    const start = await until(framesOf, (n) => n > 0, { what: 'screen frames to decode' });
    await until(framesOf, (n) => n > start, { what: 'more screen frames' });
    await screenshot(bob.page, 'call.png');

    await alice.page.getByRole('button', { name: 'Stop sharing' }).click();
    await expect.poll(() => screenTile.count(), LONG).toBe(0);
  }, 120_000);

  it('mute stops the audio energy the other page receives; unmute brings it back', async () => {
    const energy = async () => inboundOf((await statsOf(bob))[0]!, 'audio')?.totalAudioEnergy ?? 0;
    const growth = async (ms: number) => {
      const a = await energy();
      await bob.page.waitForTimeout(ms);
      return (await energy()) - a;
    };
    // The fake microphone plays a tone: energy grows while unmuted.
    const speaking = await until(
      () => growth(1500),
      (g) => g > 0,
      { what: 'audio energy' },
    );

    await alice.page.getByRole('button', { name: 'Mute' }).click();
    expect(await alice.page.locator('#mute').getAttribute('aria-pressed')).toBe('true');
    expect(await alice.page.evaluate(() => window.__demo.local().audioEnabled as boolean)).toBe(false);
    // Audio already in flight may still play out; then the energy stops growing.
    const muted = await until(
      () => growth(1500),
      (g) => g < speaking / 100,
      { what: 'silence after mute' },
    );
    expect(muted).toBeLessThan(speaking / 100);

    await alice.page.getByRole('button', { name: 'Unmute' }).click();
    await until(
      () => growth(1500),
      (g) => g > speaking / 10,
      { what: 'audio energy after unmute' },
    );
  }, 120_000);

  it('switching the microphone mid-call keeps audio flowing to the other page', async () => {
    const options = await alice.page.locator('#mic-select option').evaluateAll((nodes) =>
      nodes.map((n) => ({
        value: (n as HTMLOptionElement).value,
        selected: (n as HTMLOptionElement).selected,
      })),
    );
    const other = options.find((o) => !o.selected);
    // Chromium's fake device offers several microphones (default, 1, 2).
    expect(other).toBeDefined();
    const packets = async () => inboundOf((await statsOf(bob))[0]!, 'audio')?.packetsReceived ?? 0;
    const tracksBefore = await bob.page.evaluate(() =>
      (window.__demo.tiles() as TileInfo[]).flatMap((t) => t.trackIds),
    );
    await alice.page.locator('#mic-select').selectOption(other!.value);
    // Bob receives a new audio track (renegotiated) and its packets flow.
    const newTrack = await until(
      async () => {
        const now = await bob.page.evaluate(() => window.__demo.tiles() as TileInfo[]);
        const remote = now.find((t) => !t.local && !t.screen);
        return remote?.trackIds.find((id) => !tracksBefore.includes(id)) ?? null;
      },
      (id) => id !== null,
      { what: 'a new remote audio track at Bob' },
    );
    const onNew = async () => inboundOf((await statsOf(bob))[0]!, 'audio', newTrack!)?.packetsReceived ?? 0;
    const start = await until(onNew, (n) => n > 0, { what: 'packets on the new audio track' });
    await until(onNew, (n) => n > start + 10, { what: 'more packets on the new audio track' });
    expect(await packets()).toBeGreaterThan(0);
    expect(alice.pageErrors).toEqual([]);
  }, 120_000);

  it('leave removes the page from the call and the other page sees it go', async () => {
    await bob.page.getByRole('button', { name: 'Leave' }).click();
    await bob.page.locator('#join-form').waitFor();
    await expect.poll(() => alice.page.locator('.tile:not(.local)').count(), LONG).toBe(0);
    expect(alice.pageErrors).toEqual([]);
    expect(bob.pageErrors).toEqual([]);
  }, 60_000);
});
