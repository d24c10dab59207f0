/**
 * The browser bundle an app ships, minified and gzipped (level 9), built the same way for ours and for
 * the libraries an app would pick instead, in the same run: everything each entry pulls in is counted.
 * - ours: the SDK package's browser entry (`sdk/index.ts`, what `npm start` builds for the demo);
 * - PeerJS and livekit-client: their package entries, as an app's bundler takes them;
 * - simple-peer: its prebuilt `simplepeer.min.js` (its sources need Node shims in a browser bundle).
 */
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Issue 12's budget for the browser entry, everything included (`sdk/bundle-size.test.ts` holds it). */
export const BROWSER_BUNDLE_BUDGET_BYTES = 40 * 1024;

export interface BundleSize {
  name: string;
  minifiedBytes: number;
  gzipBytes: number;
}

async function measure(name: string, contents: string): Promise<BundleSize> {
  const out = await build({
    absWorkingDir: ROOT,
    stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: `${name}-entry.ts` },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox110', 'safari16'],
    write: false,
    logLevel: 'error',
  });
  const code = out.outputFiles[0]!.contents;
  return { name, minifiedBytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length };
}

export function ourBundleSize(): Promise<BundleSize> {
  return measure('relay SDK', "export * from './sdk/index.ts';");
}

export async function bundleSizes(): Promise<{ ours: BundleSize; references: BundleSize[] }> {
  const ours = await ourBundleSize();
  const references = [
    await measure('PeerJS 1.5', "export * from 'peerjs';"),
    await measure('simple-peer 9', "export { default } from 'simple-peer/simplepeer.min.js';"),
    await measure('livekit-client 2', "export * from 'livekit-client';"),
  ];
  return { ours, references };
}
