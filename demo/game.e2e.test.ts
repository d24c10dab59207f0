/**
 * The arena game in real Chromium: positions typed in on one page (arrow keys) appear on the other; a
 * Node SDK peer (@roamhq/wrtc) joins the browsers' room and trades positions with them; and with P2P made
 * impossible (relay only, through a relay that does not exist) the pages fall back to the WebSocket path
 * and still sync.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { requireTool } from '../test-support/tools.js';
import { joinRoom, type TestRoom } from '../test-support/sdk-rooms.js';
import {
  buildDemoBundle,
  joinThroughUi,
  launchDemoBrowser,
  screenshot,
  until,
  type DemoBrowser,
  type DemoPage,
} from '../test-support/demo-browser.js';

const chromiumPath = requireTool('/usr/bin/chromium');
const LONG = { timeout: 60_000, interval: 250 };

interface Player {
  peerId: string;
  name: string;
  x: number | null;
  y: number | null;
  path: string | null;
  badge: string;
  latencyMs: number | null;
  ratePerSecond: number;
}
interface Me {
  x: number;
  y: number;
  seq: number;
  peerId: string;
}

let sig: RunningSignaling;
let browser: DemoBrowser;
let pages: DemoPage[] = [];
let bot: TestRoom | undefined;
let botTimer: NodeJS.Timeout | undefined;

beforeAll(async () => {
  if (!chromiumPath) return;
  await buildDemoBundle();
  // The pages take their token from the development route, off by default with a real JWT secret.
  sig = await startSignaling({ DEV_TOKENS: 'true' });
  browser = await launchDemoBrowser(chromiumPath);
}, 120_000);

afterAll(async () => {
  clearInterval(botTimer);
  await bot?.room.close();
  await browser?.close();
  await sig?.close();
});

const players = (p: DemoPage) => p.page.evaluate(() => window.__demo.players() as Player[]);
const me = (p: DemoPage) => p.page.evaluate(() => window.__demo.me() as Me);

/** Hold an arrow key down for a while on `p`, as a player would. */
async function move(p: DemoPage, key: string, ms: number): Promise<void> {
  await p.page.locator('#field').focus();
  await p.page.keyboard.down(key);
  await p.page.waitForTimeout(ms);
  await p.page.keyboard.up(key);
}

/** Move `mover` and wait until `watcher` shows it exactly where `mover` says it is. */
async function expectSynced(mover: DemoPage, watcher: DemoPage, key: string): Promise<void> {
  const start = await me(mover);
  await move(mover, key, 600);
  const end = await me(mover);
  expect(end.x !== start.x || end.y !== start.y).toBe(true);
  // Once the key is up the position stays put; the watcher must converge on it.
  await until(
    () => players(watcher),
    (list) => {
      const seen = list.find((x) => x.peerId === end.peerId);
      return !!seen && Math.abs(seen.x! - end.x) < 0.2 && Math.abs(seen.y! - end.y) < 0.2;
    },
    { what: `the watcher to show the mover at (${end.x}, ${end.y})` },
  );
}

async function openArena(names: string[], query = '', relayOnly = false): Promise<DemoPage[]> {
  const opened: DemoPage[] = [];
  for (const name of names) {
    const p = await browser.newPage();
    if (query) await p.page.goto(`${sig.httpUrl}/game.html${query}`);
    else {
      await p.page.goto(`${sig.httpUrl}/`);
      await p.page.getByRole('link', { name: /Arena game/ }).click();
      await p.page.waitForURL(/\/game\.html$/);
    }
    await joinThroughUi(p.page, { room: 'arena', name, relayOnly });
    opened.push(p);
  }
  return opened;
}

describe.skipIf(!chromiumPath)('arena game page', () => {
  it('positions typed on one page appear on the other, over a direct path, with latency shown', async () => {
    pages = await openArena(['Alice', 'Bob']);
    const [alice, bob] = pages as [DemoPage, DemoPage];
    for (const p of pages) {
      await expect
        .poll(() => p.page.locator('#players li .badge').allTextContents(), LONG)
        .toEqual(['direct']);
    }
    await expectSynced(alice, bob, 'ArrowRight');
    await expectSynced(bob, alice, 'ArrowUp');
    // Each page pings the other over the same unreliable channel and shows the round trip.
    await expect.poll(() => bob.page.locator('#players li .latency').textContent(), LONG).toMatch(/^\d+ ms$/);
    const [seenByBob] = await players(bob);
    expect(seenByBob?.name).toBe('Alice');
    expect(seenByBob?.latencyMs).toBeGreaterThanOrEqual(0);
    for (const p of pages) expect(p.pageErrors).toEqual([]);
  }, 180_000);

  it('a Node SDK peer joins the browsers’ room and trades positions with them', async () => {
    const [alice, bob] = pages as [DemoPage, DemoPage];
    bot = await joinRoom(sig, 'node-bot', 'arena', { meta: { name: 'Node bot' } });
    const b = bot;
    let seq = 0;
    // The bot circles the arena at 30 updates a second, like a page does.
    botTimer = setInterval(() => {
      const t = ++seq / 30;
      const pos = { x: 400 + 150 * Math.cos(t), y: 250 + 120 * Math.sin(t), seq };
      b.room.send(JSON.stringify(pos), { channel: 'pos', reliable: false });
    }, 33);
    // It answers the pages' latency pings the way a page does.
    b.room.on('data', ({ from, channel, data }) => {
      if (channel !== 'ping' || typeof data !== 'string') return;
      const ping = (JSON.parse(data) as { ping?: number }).ping;
      if (ping !== undefined)
        b.room.send(JSON.stringify({ pong: ping }), { to: from, channel, reliable: false });
    });
    for (const p of [alice, bob]) {
      await until(
        () => players(p),
        (list) => list.some((x) => x.name === 'Node bot' && x.x !== null && x.path === 'direct'),
        { what: 'the Node bot on the page, directly connected' },
      );
    }
    const alicePeer = (await me(alice)).peerId;
    await move(alice, 'ArrowDown', 400);
    const end = await me(alice);
    await until(
      () => {
        const last = b.received.filter((d) => d.from === alicePeer && d.channel === 'pos').at(-1);
        return Promise.resolve(
          last ? (JSON.parse(last.data as string) as { x: number; y: number; seq: number }) : null,
        );
      },
      (pos) => !!pos && Math.abs(pos.x - end.x) < 0.2 && Math.abs(pos.y - end.y) < 0.2,
      { what: 'Alice’s position at the Node bot' },
    );
    // Unreliable: they came over the unreliable channel, not the reliable one.
    expect(b.received.some((d) => d.from === alicePeer && d.channel === 'pos' && !d.reliable)).toBe(true);
    await until(
      () => players(bob),
      (list) => list.length === 2 && list.every((x) => x.latencyMs !== null && x.ratePerSecond > 0),
      { what: 'latency and update rates for both players on Bob’s page' },
    );
    await bob.page.waitForTimeout(1200); // the list's text refreshes once a second
    await screenshot(bob.page, 'game.png');
  }, 120_000);

  it('with P2P impossible the pages fall back to the WebSocket path and still sync', async () => {
    clearInterval(botTimer);
    await bot?.room.close();
    bot = undefined;
    for (const p of pages) await p.page.close();
    // Relay only, and the only relay is a dead port: ICE cannot find any path.
    pages = await openArena(['Carol', 'Dan'], '?ice=turn:127.0.0.1:9&p2pTimeout=3000', true);
    const [carol, dan] = pages as [DemoPage, DemoPage];
    for (const p of pages) {
      await expect
        .poll(() => p.page.locator('#players li .badge').allTextContents(), LONG)
        .toEqual(['websocket']);
    }
    await expectSynced(carol, dan, 'ArrowLeft');
    await expectSynced(dan, carol, 'ArrowDown');
    await expect.poll(() => dan.page.locator('#players li .latency').textContent(), LONG).toMatch(/^\d+ ms$/);
    await screenshot(dan.page, 'game-websocket.png');
    for (const p of pages) expect(p.pageErrors).toEqual([]);
  }, 180_000);
});
