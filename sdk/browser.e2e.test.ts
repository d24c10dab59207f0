/**
 * The browser bundle in real headless Chromium: it loads, `connect()` is welcomed by a real signaling
 * server (token in the subprotocol), and two rooms in one page link up and exchange data.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import {
  launchChromium,
  serveStatic,
  type RunningBrowser,
  type StaticServer,
} from '../test-support/sdk-browser.js';
import { requireTool } from '../test-support/tools.js';
import { joinRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { buildBrowserBundle } from './build-browser.js';

const chromiumPath = requireTool('/usr/bin/chromium');
const outDir = mkdtempSync(join(tmpdir(), 'relay-sdk-bundle-'));

useGenerousPolls();
let sig: RunningSignaling;
let site: StaticServer;
let browser: RunningBrowser;

beforeAll(async () => {
  if (!chromiumPath) return;
  const bundle = await buildBrowserBundle(join(outDir, 'relay-sdk.js'));
  site = await serveStatic({
    '/': {
      type: 'text/html',
      body: `<!doctype html><script type="module">
        import * as sdk from '/relay-sdk.js'; window.sdk = sdk; window.sdkLoaded = true;
      </script>`,
    },
    '/relay-sdk.js': { type: 'text/javascript', body: readFileSync(bundle) },
  });
  sig = await startSignaling();
  browser = await launchChromium(chromiumPath);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await sig?.close();
  rmSync(outDir, { recursive: true, force: true });
});

interface PageResult {
  welcomedA: string;
  welcomedB: string;
  membersOfB: string[];
  gotAtB: string[];
  gotAtA: string[];
  path: string | undefined;
  errors: string[];
}

describe.skipIf(!chromiumPath)('browser bundle in Chromium', () => {
  it('loads, connects twice through signaling, and the two rooms exchange data', async () => {
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(site.url);
    await page.waitForFunction(() => (window as unknown as { sdkLoaded?: boolean }).sdkLoaded === true);
    const args = { url: sig.wsUrl, tokenA: sig.token('alice', ['web']), tokenB: sig.token('bob', ['web']) };
    const result = await page.evaluate(async ({ url, tokenA, tokenB }): Promise<PageResult> => {
      type AnyRoom = {
        peerId: string;
        peers(): Array<{ peerId: string; path: string }>;
        peer(id: string): { path: string } | undefined;
        on(e: string, f: (p: { from: string; data: unknown }) => void): void;
        send(d: string, o?: object): void;
        close(): Promise<void>;
      };
      const sdk = (window as unknown as { sdk: { connect(o: object): Promise<AnyRoom> } }).sdk;
      const errors: string[] = [];
      const a = await sdk.connect({ url, token: tokenA, room: 'web', p2pConnectTimeoutMs: 15_000 });
      const b = await sdk.connect({ url, token: tokenB, room: 'web', p2pConnectTimeoutMs: 15_000 });
      const gotAtA: string[] = [];
      const gotAtB: string[] = [];
      a.on('data', (d) => gotAtA.push(String(d.data)));
      b.on('data', (d) => gotAtB.push(String(d.data)));
      a.on('error', (e) => errors.push(JSON.stringify(e)));
      a.send('from a', { to: b.peerId });
      b.send('from b', { to: a.peerId });
      const deadline = Date.now() + 40_000;
      while (
        Date.now() < deadline &&
        (gotAtA.length === 0 || gotAtB.length === 0 || a.peer(b.peerId)?.path === 'connecting')
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const out = {
        welcomedA: a.peerId,
        welcomedB: b.peerId,
        membersOfB: b.peers().map((p) => p.peerId),
        gotAtA,
        gotAtB,
        path: a.peer(b.peerId)?.path,
        errors,
      };
      await a.close();
      await b.close();
      return out;
    }, args);
    expect(pageErrors).toEqual([]);
    expect(result.welcomedA).toMatch(/^[A-Za-z0-9_-]{8,64}$/);
    expect(result.membersOfB).toEqual([result.welcomedA]);
    expect(result.gotAtB).toEqual(['from a']);
    expect(result.gotAtA).toEqual(['from b']);
    // Two pages' worth of RTCPeerConnections on one loopback: ICE connects directly.
    expect(result.path).toBe('direct');
    await page.close();
  }, 120_000);

  it('a Chromium room and a Node room (@roamhq/wrtc) link up directly and exchange data', async () => {
    const node = await joinRoom(sig, 'node-user', 'mixed');
    let webPeer = '';
    node.room.on('peer-joined', ({ peer }) => {
      webPeer = peer.peerId;
      node.room.send('from node', { to: peer.peerId });
    });
    try {
      const page = await browser.context.newPage();
      await page.goto(site.url);
      await page.waitForFunction(() => (window as unknown as { sdkLoaded?: boolean }).sdkLoaded === true);
      const args = { url: sig.wsUrl, token: sig.token('web-user', ['mixed']), nodeId: node.room.peerId };
      const result = await page.evaluate(async ({ url, token, nodeId }) => {
        type AnyRoom = {
          peer(id: string): { path: string } | undefined;
          on(e: string, f: (p: { data: unknown }) => void): void;
          send(d: string, o?: object): void;
          close(): Promise<void>;
        };
        const sdk = (window as unknown as { sdk: { connect(o: object): Promise<AnyRoom> } }).sdk;
        const room = await sdk.connect({ url, token, room: 'mixed' });
        const got: string[] = [];
        room.on('data', (d) => got.push(String(d.data)));
        room.send('from chromium', { to: nodeId });
        const deadline = Date.now() + 40_000;
        while (Date.now() < deadline && (got.length === 0 || room.peer(nodeId)?.path !== 'direct')) {
          await new Promise((r) => setTimeout(r, 100));
        }
        const out = { got, path: room.peer(nodeId)?.path };
        await room.close();
        return out;
      }, args);
      expect(result.path).toBe('direct');
      expect(result.got).toEqual(['from node']);
      await expect.poll(() => node.reliableFrom(webPeer)).toEqual(['from chromium']);
      await page.close();
    } finally {
      await node.room.close();
    }
  }, 120_000);
});
