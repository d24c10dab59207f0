/**
 * A headless Chromium peer of the network matrix, running inside a client namespace: Playwright launches
 * Chromium through `ip netns exec` (it talks to the browser over a pipe, so the namespace does not get in
 * the way), and the page, served by Playwright's request routing under the signaling server's origin,
 * runs the SDK's browser bundle with the same commands and report as `matrix-peer.ts`. Video it receives
 * is counted by decoded frames (`requestVideoFrameCallback`); what it publishes is a canvas stream.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildBrowserBundle } from '../sdk/build-browser.js';
import { CHROMIUM_ARGS } from './sdk-browser.js';
import type { PeerCommand, PeerReport } from './matrix-peer.js';

type Command = PeerCommand extends infer C ? (C extends PeerCommand ? Omit<C, 'id'> : never) : never;

/** The page's peer: the browser twin of `matrix-peer.ts`'s command handler. */
const PEER_JS = `
import * as sdk from './relay-sdk.js';
let room = null, label = '', joinedAt = 0, sent = 0, pump = null;
const received = {}, lastAt = {}, events = [], frameCounts = [];
const note = (event, detail) => { if (events.length < 2000) events.push({ at: Date.now(), event, detail }); };
async function pairs(r) {
  const out = [];
  for (const p of r.peers()) {
    const entry = { peerId: p.peerId, path: p.path, p2pFailure: p.p2pFailure };
    const report = await r.getStats(p.peerId).catch(() => null);
    if (report) {
      const byId = new Map(); report.forEach((v) => byId.set(v.id, v));
      let pair;
      for (const v of byId.values()) if (v.type === 'transport' && v.selectedCandidatePairId) pair = byId.get(v.selectedCandidatePairId);
      const l = pair && byId.get(pair.localCandidateId), rm = pair && byId.get(pair.remoteCandidateId);
      if (l) entry.local = { candidateType: l.candidateType, protocol: l.protocol, ...(l.relayProtocol ? { relayProtocol: l.relayProtocol } : {}), address: l.address, port: l.port };
      if (rm) entry.remote = { candidateType: rm.candidateType, protocol: rm.protocol, address: rm.address, port: rm.port };
    }
    out.push(entry);
  }
  return out;
}
function countFrames(stream) {
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true; video.srcObject = stream;
  document.body.append(video);
  const counter = { n: 0 }; frameCounts.push(counter);
  const tick = () => { counter.n++; video.requestVideoFrameCallback(tick); };
  video.requestVideoFrameCallback(tick);
  void video.play().catch(() => {});
}
window.matrixPeer = { async handle(msg) {
  switch (msg.cmd) {
    case 'join': {
      label = msg.label;
      room = await sdk.connect({ url: msg.url, token: msg.token, room: msg.room, ...msg.options });
      joinedAt = Date.now();
      room.on('data', (d) => {
        if (d.channel !== 'seq' || typeof d.data !== 'string') return;
        const [from, n] = d.data.split(':');
        const rec = (received[from] ??= { seqs: [], firstAt: null, longestGapMs: 0 });
        const now = Date.now();
        rec.firstAt ??= now;
        if (lastAt[from] !== undefined) rec.longestGapMs = Math.max(rec.longestGapMs, now - lastAt[from]);
        lastAt[from] = now;
        rec.seqs.push(Number(n));
      });
      room.on('path', (e) => note('path', e.path));
      room.on('p2p-failed', (e) => note('p2p-failed', e.reason));
      room.on('link', (e) => note('link', e.kind + ' ' + e.reason));
      room.on('resumed', (e) => note('resumed', e.kind));
      room.on('error', (e) => note('error', e.error.code));
      room.on('track', (t) => countFrames(t.stream));
      return { peerId: room.peerId, joinedAt };
    }
    case 'pump':
      if (pump) clearInterval(pump);
      pump = setInterval(() => {
        if (sent >= msg.max) { clearInterval(pump); pump = null; return; }
        room.send(label + ':' + sent, { channel: 'seq' }); sent++;
      }, msg.everyMs);
      return null;
    case 'stop-pump':
      if (pump) clearInterval(pump); pump = null;
      return { sent };
    case 'report':
      return { peerId: room.peerId, joinedAt, sent, received, pairs: await pairs(room), events,
        frames: frameCounts.reduce((n, c) => n + c.n, 0) };
    case 'publish': {
      const canvas = document.createElement('canvas'); canvas.width = 160; canvas.height = 120;
      const ctx = canvas.getContext('2d');
      setInterval(() => { ctx.fillStyle = 'hsl(' + (Date.now() / 10 % 360) + ',60%,50%)'; ctx.fillRect(0, 0, 160, 120); }, 66);
      room.publish(canvas.captureStream(15));
      return null;
    }
    case 'close':
      if (pump) clearInterval(pump);
      await room?.close();
      return null;
  }
} };
window.matrixReady = true;
`;

export class BrowserPeer {
  peerId = '';
  joinedAt = 0;

  private constructor(
    readonly label: string,
    private readonly page: Page,
    private readonly context: BrowserContext,
    private readonly dir: string,
  ) {}

  /** Chromium in namespace `ns`, with a page at `origin` (the signaling server's) running the peer. */
  static async launch(label: string, ns: string, chromiumPath: string, origin: string): Promise<BrowserPeer> {
    const dir = mkdtempSync(join(tmpdir(), 'relay-matrix-chromium-'));
    try {
      const bundle = readFileSync(await buildBrowserBundle(join(dir, 'relay-sdk.js')));
      // Playwright runs this "browser": Chromium, inside the client's namespace.
      const wrapper = join(dir, 'chromium-in-netns');
      writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec '${ns}' '${chromiumPath}' "$@"\n`);
      chmodSync(wrapper, 0o755);
      const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
        executablePath: wrapper,
        headless: true,
        // Keep the page's timers (its message pump) at full rate even if Chromium deems it hidden.
        args: [
          ...CHROMIUM_ARGS,
          '--disable-background-timer-throttling',
          '--disable-renderer-backgrounding',
          '--disable-backgrounding-occluded-windows',
          // The relay serves the development default's self-signed certificate on its TLS port; the
          // matrix is about which networks reach it, not about the certificate's issuer.
          '--ignore-certificate-errors',
        ],
      });
      const files: Record<string, { type: string; body: string | Buffer }> = {
        '/matrix/': {
          type: 'text/html',
          body: '<!doctype html><title>matrix</title><script type="module" src="./peer.js"></script>',
        },
        '/matrix/peer.js': { type: 'text/javascript', body: PEER_JS },
        '/matrix/relay-sdk.js': { type: 'text/javascript', body: bundle },
      };
      await context.route(`${origin}/matrix/**`, (route) => {
        const file = files[new URL(route.request().url()).pathname];
        return file
          ? route.fulfill({ status: 200, contentType: file.type, body: file.body })
          : route.fulfill({ status: 404 });
      });
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${origin}/matrix/`);
      await page.waitForFunction(() => (window as unknown as { matrixReady?: boolean }).matrixReady === true);
      return new BrowserPeer(label, page, context, dir);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  request<T>(cmd: Command): Promise<T> {
    return this.page.evaluate(
      (c) =>
        (window as unknown as { matrixPeer: { handle(c: unknown): Promise<unknown> } }).matrixPeer.handle(c),
      cmd as unknown,
    ) as Promise<T>;
  }

  report(): Promise<PeerReport> {
    return this.request<PeerReport>({ cmd: 'report' });
  }

  async close(): Promise<void> {
    await this.request({ cmd: 'close' }).catch(() => undefined);
    await this.context.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
