/**
 * Browser bundle of the SDK: one ESM file, `demo/public/vendor/relay-sdk.js` by default
 * (`npx tsx sdk/build-browser.ts [outfile]`).
 *
 * - simple-peer is aliased to its prebuilt `simplepeer.min.js`, which carries its own `process`/`Buffer`
 *   shims: bundling its sources naively leaves Node globals behind and Chromium fails with
 *   "global is not defined". `global` is also defined as `globalThis` for anything else.
 * - The Node platform module (ws, @roamhq/wrtc) is replaced by a stub; browsers use their own globals.
 */
import { build, type Plugin } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_BROWSER_BUNDLE = fileURLToPath(
  new URL('../demo/public/vendor/relay-sdk.js', import.meta.url),
);

const stubNodePlatform: Plugin = {
  name: 'stub-node-platform',
  setup(b) {
    b.onResolve({ filter: /platform\/node\.js$/ }, (args) => ({
      path: args.path,
      namespace: 'relay-node-stub',
    }));
    b.onLoad({ filter: /.*/, namespace: 'relay-node-stub' }, () => ({
      contents:
        "export function nodePlatform() { throw new Error('relay-sdk: the Node platform is not in the browser bundle'); }\n" +
        'export const NodeMediaStream = undefined;\n',
      loader: 'js',
    }));
  },
};

export async function buildBrowserBundle(outfile = DEFAULT_BROWSER_BUNDLE, minify = true): Promise<string> {
  const require = createRequire(import.meta.url);
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
    define: { global: 'globalThis' },
    alias: { 'simple-peer': require.resolve('simple-peer/simplepeer.min.js') },
    plugins: [stubNodePlatform],
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const out = await buildBrowserBundle(process.argv[2]);
  console.log(`wrote ${out}`);
}
