/**
 * Browser bundle of the SDK: one ESM file, `demo/public/vendor/relay-sdk.js` by default
 * (`npx tsx sdk/build-browser.ts [outfile]`).
 *
 * The entry is the package's browser entry (`sdk/index.ts`): it imports nothing of Node and no package
 * at all (WebRTC is the page's own RTCPeerConnection), so no shims, aliases or stubs are needed; this is
 * what an app's bundler does with the installed package too (`sdk/package.e2e.test.ts`).
 */
import { build } from 'esbuild';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_BROWSER_BUNDLE = fileURLToPath(
  new URL('../demo/public/vendor/relay-sdk.js', import.meta.url),
);

export async function buildBrowserBundle(outfile = DEFAULT_BROWSER_BUNDLE, minify = true): Promise<string> {
  await build({
    absWorkingDir: ROOT,
    entryPoints: ['sdk/index.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    minify,
    sourcemap: true,
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildBrowserBundle(process.argv[2]);
  console.log(`wrote ${out}`);
}
