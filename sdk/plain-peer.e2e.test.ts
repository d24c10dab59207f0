/**
 * The SDK with a peer that runs nothing but the WebRTC spec and the signaling protocol
 * (`signaling/PROTOCOL-PEERS.md`): a page in Chromium that always offers (the impolite side of perfect
 * negotiation), and one that only answers. With each, a Node SDK room connects directly, video goes
 * both ways, the SDK's candidates carry `usernameFragment`, and application data on the page's `chat`
 * channel arrives on both sides exactly as sent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { PLAIN_PEER_PAGE } from '../test-support/plain-peer-page.js';
import {
  launchChromium,
  serveStatic,
  type RunningBrowser,
  type StaticServer,
} from '../test-support/sdk-browser.js';
import { countFrames, fakeCamera } from '../test-support/sdk-media.js';
import { joinRoom, p2pTo, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { requireTool } from '../test-support/tools.js';

const chromiumPath = requireTool('/usr/bin/chromium');
useGenerousPolls();
const defer = closeAfterEach();
let sig: RunningSignaling;
let site: StaticServer;
let browser: RunningBrowser;

interface PlainLog {
  candidates: number;
  withoutUfrag: number;
  got: string[];
  ignoredOffers: number;
  answered: number;
  errors: string[];
  videoWidth: number;
}

beforeAll(async () => {
  if (!chromiumPath) return;
  sig = await startSignaling();
  site = await serveStatic({ '/': { type: 'text/html', body: PLAIN_PEER_PAGE } });
  browser = await launchChromium(chromiumPath);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await sig?.close();
});

describe.skipIf(!chromiumPath)('a plain standards peer', () => {
  for (const mode of ['offer', 'answer'] as const) {
    it(`that ${mode === 'offer' ? 'always offers' : 'only answers'}: media both ways, chat data as sent`, async () => {
      const roomName = `plain-${mode}`;
      const page = defer(await browser.context.newPage(), (p) => p.close());
      const query = new URLSearchParams({
        mode,
        room: roomName,
        ws: sig.wsUrl,
        token: sig.token('plain', [roomName]),
      });
      await page.goto(`${site.url}/?${query.toString()}`);
      const sdk = defer(await joinRoom(sig, 'sdk', roomName), (r) => r.room.close());
      const cam = defer(fakeCamera(), (c) => c.stop());
      const track = sdk.room.next('track');
      sdk.room.publish(cam.stream);
      const plainId = await expect
        .poll(() => sdk.room.peers()[0]?.peerId)
        .toBeTruthy()
        .then(() => sdk.room.peers()[0]!.peerId);
      await p2pTo(sdk.room, plainId);

      const frames = defer(countFrames((await track).track), (c) => c.stop());
      await expect.poll(frames.frames).toBeGreaterThan(5);
      const log = () => page.evaluate(() => (window as unknown as { plain: PlainLog }).plain);
      await expect.poll(async () => (await log()).videoWidth).toBe(160);

      // The SDK opens `chat` when the page has not (answer mode); the page answers on it.
      await expect.poll(() => sdk.room.send('hello plain', { to: plainId, channel: 'chat' })).toBe(1);
      await expect
        .poll(() => sdk.received.filter((d) => d.channel === 'chat').map((d) => [d.data, d.reliable]))
        .toContainEqual(['hello sdk', true]);
      const seen = await log();
      expect(seen.got).toContain('hello plain');
      expect(seen.candidates).toBeGreaterThan(0);
      expect(seen.withoutUfrag).toBe(0);
      expect(seen.errors).toEqual([]);
      if (mode === 'answer') expect(seen.answered).toBeGreaterThan(0);
      expect(sdk.errors).toEqual([]);
    }, 90_000);
  }
});
