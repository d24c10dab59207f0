/**
 * The container image without a container engine (CI has none): the Dockerfile is checked against the
 * code (entry points in the compiled tree, EXPOSEd ports against the defaults, ENV names against the
 * config tables, a non-root user, an LTS base, runtime packages without dev tools), and the runtime tree
 * its stages describe is built for real (npm ci --omit=dev into a temporary folder, tsc with
 * tsconfig.build.json, the demo files) and started as the image would start it.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signalingEnv, DEFAULT_METRICS_PORT } from '../signaling/config.js';
import { turnEnv } from '../turn/config.js';
import {
  ROOT,
  SIGNALING_STARTED,
  freeTcpPort,
  freeUdpPort,
  startNode,
  type Proc,
} from '../test-support/processes.js';

const run = promisify(execFile);
const dockerfile = readFileSync(join(ROOT, 'infra/docker/Dockerfile'), 'utf8');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** The Dockerfile's stages by name, each its instruction lines (continuations joined). */
function stages(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of dockerfile.replace(/\\\n\s*/g, ' ').split('\n')) {
    const from = /^FROM \S+(?: AS (\S+))?/i.exec(line);
    if (from) out.set(from[1] ?? `stage${out.size}`, (current = []));
    else if (line.trim() && !line.startsWith('#')) current.push(line.trim());
  }
  return out;
}
const stage = (name: string) => stages().get(name) ?? [];
const exposed = (name: string) =>
  stage(name)
    .filter((l) => l.startsWith('EXPOSE '))
    .flatMap((l) => l.slice(7).split(/\s+/))
    .sort();
const cmd = (name: string) =>
  JSON.parse(
    stage(name)
      .find((l) => l.startsWith('CMD '))!
      .slice(4),
  ) as string[];

/** Packages that must never reach the runtime image. */
const DEV_ONLY = ['@roamhq/wrtc', 'simple-peer', 'esbuild', 'tsx', 'vitest', 'typescript', 'playwright-core'];

describe('the Dockerfile matches the code', () => {
  it('has a build, a runtime-deps and a runtime stage, the relay and (last, the default) signaling targets', () => {
    expect([...stages().keys()]).toEqual(['build', 'deps', 'runtime', 'relay', 'signaling']);
    expect(stage('deps').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(stage('runtime')).toContain('USER node');
    // The runtime takes node_modules only from the --omit=dev stage, never from the build stage.
    expect(stage('runtime').filter((l) => l.includes('node_modules'))).toEqual([
      'COPY --from=deps /app/node_modules ./node_modules',
    ]);
  });

  it('uses the Node LTS that CI tests (.ci/node-lts-version)', () => {
    const lts = readFileSync(join(ROOT, '.ci/node-lts-version'), 'utf8').trim();
    expect(dockerfile).toContain(`ARG NODE_IMAGE=node:${lts.split('.')[0]!}-slim`);
  });

  it('EXPOSEs the default ports of what each target runs', () => {
    const turnPort = turnEnv.TURN_PORT.default;
    const tls = turnEnv.TURN_TLS_PORT.default;
    expect(exposed('signaling')).toEqual(
      [
        `${signalingEnv.PORT.default}/tcp`,
        `${DEFAULT_METRICS_PORT}/tcp`,
        `${turnPort}/udp`,
        `${turnPort}/tcp`,
        `${tls}/tcp`,
      ].sort(),
    );
    expect(exposed('relay')).toEqual(
      [`${turnPort}/udp`, `${turnPort}/tcp`, `${tls}/tcp`, `${turnEnv.TURN_METRICS_PORT.default}/tcp`].sort(),
    );
    expect(cmd('signaling')).toEqual(['node', 'dist/signaling/main.js']);
    expect(cmd('relay')).toEqual(['node', 'dist/turn/main.js']);
  });

  it('names only variables the config tables read', () => {
    const known = new Set([...Object.keys(signalingEnv), ...Object.keys(turnEnv)]);
    const used = [...dockerfile.matchAll(/(?:process\.env\.|-e |ENV )([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!);
    expect(used.length).toBeGreaterThan(3);
    for (const name of used) expect(known, name).toContain(name);
  });

  it('keeps dev tools out of the runtime dependencies', () => {
    for (const name of DEV_ONLY) expect(Object.keys(pkg.dependencies), name).not.toContain(name);
    for (const name of Object.keys(pkg.dependencies))
      expect(Object.keys(pkg.devDependencies), name).not.toContain(name);
  });

  it("the README's docker lines build this file and publish ports the signaling target EXPOSEs", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const build = /^docker build -f (\S+) -t (\S+) \.$/m.exec(readme);
    expect(build?.[1]).toBe('infra/docker/Dockerfile');
    const runLine = readme.split('\n').find((l) => l.startsWith('docker run '));
    expect(runLine?.endsWith(` ${build![2]!}`), runLine).toBe(true);
    // No -e: the image with no variables is the development default.
    expect(runLine).not.toContain(' -e ');
    for (const [, published] of runLine!.matchAll(/-p \d+:(\d+(?:\/(?:udp|tcp))?)/g)) {
      const withProto = published!.includes('/') ? published! : `${published!}/tcp`;
      expect(exposed('signaling'), withProto).toContain(withProto);
    }
  });

  it('.dockerignore keeps the host tree (node_modules, .git, dist, tests) out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', 'dist', '**/*.test.ts', 'test-support'])
      expect(ignored).toContain(entry);
  });
});

describe('the runtime tree the Dockerfile builds starts and answers', () => {
  let app: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    app = mkdtempSync(join(tmpdir(), 'relay-image-'));
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(ROOT, f), join(app, f));
    // As the deps stage: runtime packages only (from the npm cache when it has them).
    await run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      {
        cwd: app,
      },
    );
    // As the build stage: tsc to dist/ with the build config, and the demo files beside it.
    await run(
      join(ROOT, 'node_modules/.bin/tsc'),
      ['-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(app, 'dist')],
      {
        cwd: ROOT,
      },
    );
    cpSync(join(ROOT, 'demo/public'), join(app, 'dist/demo/public'), { recursive: true });
  }, 300_000);

  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    rmSync(app, { recursive: true, force: true });
  });

  it('holds no dev package and no compiled test, and has both entry points', () => {
    const modules = readdirSync(join(app, 'node_modules'));
    for (const name of DEV_ONLY) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
    expect(modules).toContain('ws');
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) =>
        statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)],
      );
    expect(files(join(app, 'dist')).filter((f) => /\.test\.js$/.test(f))).toEqual([]);
    for (const entry of [cmd('signaling')[1]!, cmd('relay')[1]!])
      expect(existsSync(join(app, entry)), entry).toBe(true);
  });

  it('starts the development default with no configuration but free ports, and serves health, demo and tokens', async () => {
    const port = await freeTcpPort();
    const p = startNode(app, cmd('signaling').slice(1), {
      PORT: String(port),
      TURN_PORT: String(await freeUdpPort()),
      TURN_TLS_PORT: String(await freeTcpPort()),
    });
    procs.push(p);
    await p.waitFor(SIGNALING_STARTED, 60_000);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('<title>');
    const token = await fetch(`http://127.0.0.1:${port}/dev/token?room=demo&user=alice`);
    expect(token.status).toBe(200);
    p.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });

  it('starts the relay target in production with a secret, /healthz on its metrics port', async () => {
    const metricsPort = await freeTcpPort();
    const p = startNode(app, cmd('relay').slice(1), {
      NODE_ENV: 'production',
      TURN_SECRETS: 'pU8c1Jx0qLw3ZrT5-image-test',
      TURN_PORT: String(await freeUdpPort()),
      TURN_METRICS_PORT: String(metricsPort),
      TURN_METRICS_HOST: '127.0.0.1',
    });
    procs.push(p);
    await p.waitFor(/relay started/, 30_000);
    expect(await (await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).json()).toMatchObject({ ok: true });
    p.kill('SIGTERM');
    expect((await p.exited).code).toBe(0);
  });
});
