/**
 * The SDK as an app developer meets it: `npm pack`, installed from the tarball into a fresh app outside
 * the repository, then
 * - its installed tree holds nothing but the SDK (no server, no zod), and in Node without the optional
 *   peer dependencies `connect()` says what to install;
 * - a consumer type-checks under `strict` and `exactOptionalPropertyTypes` with `skipLibCheck` off;
 * - esbuild and vite, on their default settings, bundle it, and both bundles connect two rooms in
 *   headless Chromium through a real signaling server;
 * - plain Node imports it with no loader and links two rooms over @roamhq/wrtc.
 * The bundlers and tsc are the repository's own pinned binaries, run in the app's directory; only the
 * SDK tarball and, for Node, `ws` and @roamhq/wrtc are installed (from the npm cache when it has them).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { launchChromium, serveStatic, type RunningBrowser } from '../test-support/sdk-browser.js';
import { requireTool } from '../test-support/tools.js';

const SDK_DIR = fileURLToPath(new URL('.', import.meta.url));
const BIN = fileURLToPath(new URL('../node_modules/.bin/', import.meta.url));
const chromiumPath = requireTool('/usr/bin/chromium');
const rootPackage = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
/** The version the repository pins, wherever it lists the package. */
const pinned = (name: string): string => {
  const version = rootPackage.dependencies?.[name] ?? rootPackage.devDependencies?.[name];
  if (!version) throw new Error(`${name} is not pinned in package.json`);
  return version;
};

/** The page: two rooms in one tab, one message each way; the outcome lands on `window.result`. */
const APP_SOURCE = `
import { connect, SdkError, type ConnectOptions, type Room, type RoomEvents } from '@relay-platform/sdk';

declare global {
  interface Window {
    result?: { got: string[]; paths: string[] } | { error: string };
  }
}

const params = new URLSearchParams(location.search);
const base: Omit<ConnectOptions, 'token'> = { url: params.get('ws') ?? '', room: 'pkg', meta: { app: 'fresh' } };

function firstData(room: Room): Promise<string> {
  return new Promise((resolve) => {
    const onData = (e: RoomEvents['data']): void => resolve(typeof e.data === 'string' ? e.data : 'binary');
    room.on('data', onData);
  });
}

async function run(): Promise<void> {
  const a = await connect({ ...base, token: params.get('a') ?? '' });
  const b = await connect({ ...base, token: params.get('b') ?? '' });
  const [atA, atB] = [firstData(a), firstData(b)];
  a.send('hello from a', { to: b.peerId });
  b.send('hello from b', { to: a.peerId, channel: 'chat' });
  const got = await Promise.all([atA, atB]);
  const paths = [a.peer(b.peerId)?.path ?? 'none'];
  await Promise.all([a.close(), b.close()]);
  window.result = { got, paths };
}

run().catch((err: unknown) => {
  window.result = { error: err instanceof SdkError ? err.code : String(err) };
});
`;

const NODE_CHECK = `
import { connect } from '@relay-platform/sdk';
const [url, tokenA, tokenB] = process.argv.slice(2);
const a = await connect({ url, token: tokenA, room: 'pkg-node' });
const b = await connect({ url, token: tokenB, room: 'pkg-node' });
const got = new Promise((resolve) => b.on('data', (e) => resolve(e.data)));
// b's peer-joined may reach a after b's own welcome: send once a knows b.
if (!a.peer(b.peerId))
  await new Promise((resolve) => a.on('peer-joined', (e) => e.peer.peerId === b.peerId && resolve()));
a.send('hello from node', { to: b.peerId });
console.log(JSON.stringify({ got: await got }));
await Promise.all([a.close(), b.close()]);
process.exit(0);
`;

const MISSING_CHECK = `
import { connect } from '@relay-platform/sdk';
try {
  await connect({ url: 'ws://127.0.0.1:9/v1/ws', token: 't', room: 'r' });
} catch (err) {
  console.log(JSON.stringify({ code: err.code, message: err.message }));
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'ESNext',
    moduleResolution: 'bundler',
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    noEmit: true,
    types: [],
  },
  include: ['src'],
};

let app: string;
let tarball: string;
let sig: RunningSignaling;
let browser: RunningBrowser | undefined;

function run(cmd: string, args: string[], cwd = app): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
}

/** Without blocking: the signaling server the child talks to runs in this process. */
async function runAsync(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(cmd, args, { cwd: app, encoding: 'utf8', timeout: 60_000 });
  return stdout;
}

const npmInstall = (...specs: string[]) =>
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts=false', ...specs]);

beforeAll(async () => {
  app = mkdtempSync(join(tmpdir(), 'relay-fresh-app-'));
  const packDir = join(app, '.pack');
  mkdirSync(packDir);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', packDir], SDK_DIR)) as Array<{
    filename: string;
  }>;
  tarball = join(packDir, packed[0]!.filename);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }),
  );
  mkdirSync(join(app, 'src'));
  writeFileSync(join(app, 'src/main.ts'), APP_SOURCE);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  writeFileSync(
    join(app, 'index.html'),
    '<!doctype html><html><body><script type="module" src="/src/main.ts"></script></body></html>',
  );
  writeFileSync(join(app, 'node-check.mjs'), NODE_CHECK);
  writeFileSync(join(app, 'missing-check.mjs'), MISSING_CHECK);
  npmInstall(tarball);
  sig = await startSignaling();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await sig?.close();
  rmSync(app, { recursive: true, force: true });
});

async function runInChromium(files: Record<string, { type: string; body: string | Buffer }>) {
  browser ??= await launchChromium(chromiumPath!);
  const site = await serveStatic(files);
  const page = await browser.context.newPage();
  try {
    const query = new URLSearchParams({
      ws: sig.wsUrl,
      a: sig.token('alice', ['pkg']),
      b: sig.token('bob', ['pkg']),
    });
    await page.goto(`${site.url}/?${query.toString()}`);
    await page.waitForFunction(() => (window as { result?: unknown }).result !== undefined, undefined, {
      timeout: 30_000,
    });
    return await page.evaluate(() => (window as { result?: unknown }).result);
  } finally {
    await page.close();
    await site.close();
  }
}

const HTML = { type: 'text/html' };
const JS = { type: 'text/javascript' };

describe('the packed SDK in a fresh app', () => {
  it('installs with nothing of the server, and in Node without ws/@roamhq/wrtc says what to install', () => {
    const installed = readdirSync(join(app, 'node_modules')).filter((n) => !n.startsWith('.'));
    expect(installed).toEqual(['@relay-platform']);
    const files = run('tar', ['-tzf', tarball]).split('\n');
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.some((f) => /zod|server|turn\//.test(f))).toBe(false);
    const missing = JSON.parse(run('node', ['missing-check.mjs'])) as { code: string; message: string };
    expect(missing.code).toBe('platform_unsupported');
    expect(missing.message).toContain('npm install ws @roamhq/wrtc');
  });

  it('type-checks a consumer under strict and exactOptionalPropertyTypes, with skipLibCheck off', () => {
    expect(run(join(BIN, 'tsc'), ['-p', 'tsconfig.json'])).toBe('');
  });

  it.skipIf(!chromiumPath)(
    'bundles with esbuild on its defaults and runs in Chromium',
    async () => {
      run(join(BIN, 'esbuild'), ['src/main.ts', '--bundle', '--outfile=out-esbuild/main.js']);
      const result = await runInChromium({
        '/': { ...HTML, body: '<!doctype html><script src="/main.js"></script>' },
        '/main.js': { ...JS, body: readFileSync(join(app, 'out-esbuild/main.js')) },
      });
      expect(result).toEqual({ got: ['hello from b', 'hello from a'], paths: [expect.any(String)] });
    },
    120_000,
  );

  it.skipIf(!chromiumPath)(
    'bundles with vite build on its defaults and runs in Chromium',
    async () => {
      run(join(BIN, 'vite'), ['build']);
      const files: Record<string, { type: string; body: string | Buffer }> = {
        '/': { ...HTML, body: readFileSync(join(app, 'dist/index.html')) },
      };
      for (const f of readdirSync(join(app, 'dist/assets')))
        files[`/assets/${f}`] = { ...JS, body: readFileSync(join(app, 'dist/assets', f)) };
      const result = await runInChromium(files);
      expect(result).toEqual({ got: ['hello from b', 'hello from a'], paths: [expect.any(String)] });
    },
    120_000,
  );

  it('imports in plain Node with no loader and links two rooms over @roamhq/wrtc', async () => {
    npmInstall(`ws@${pinned('ws')}`, `@roamhq/wrtc@${pinned('@roamhq/wrtc')}`);
    const out = await runAsync('node', [
      'node-check.mjs',
      sig.wsUrl,
      sig.token('carol', ['pkg-node']),
      sig.token('dave', ['pkg-node']),
    ]);
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ got: 'hello from node' });
  }, 180_000);
});
