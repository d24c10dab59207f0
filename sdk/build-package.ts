/**
 * Builds the package into `sdk/dist` (run by `npm pack` through `prepack`, or `npm run build -w sdk`):
 * - `index.js` (browser entry) and `node.js` (Node entry) as ESM, with the code they share in chunks.
 *   Relative imports (the SDK and the protocol's zod-free entry) are bundled in; the packages an app
 *   installs (`ws`, `@roamhq/wrtc`, Node only) stay imports. Not minified: the app's bundler minifies.
 * - `.d.ts` files from `tsconfig.build.json`, under `exactOptionalPropertyTypes`, so apps that turn it on
 *   get types that hold.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const SDK_DIR = fileURLToPath(new URL('.', import.meta.url));

export async function buildPackage(): Promise<void> {
  rmSync(`${SDK_DIR}/dist`, { recursive: true, force: true });
  await build({
    absWorkingDir: SDK_DIR,
    entryPoints: { index: 'index.ts', node: 'node.ts' },
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'neutral',
    target: ['es2022'],
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.resolve('typescript/bin/tsc')), '-p', 'tsconfig.build.json'],
    {
      cwd: SDK_DIR,
      stdio: ['ignore', 2, 2], // stdout stays clean for `npm pack --json`
    },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildPackage();
  process.stderr.write(`built ${SDK_DIR}dist\n`);
}
