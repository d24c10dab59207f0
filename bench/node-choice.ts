/**
 * Which Node runs the bench, and where its results go: `npm run bench -- --node <path|lts> --out <file>`.
 * `--node` re-runs the whole bench (the runner and every server it starts, which are spawned with the
 * running node) on another Node binary; `lts` fetches the current LTS named in `.ci/node-lts-version` as
 * CI does, the npm package of Node's own release binary (`node-linux-<arch>`), cached under
 * node_modules/.cache/bench-node/. `--out` names the results file (default bench/results/latest.json), so
 * two runs can be put side by side with bench/compare.ts.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ROOT } from '../test-support/processes.js';

export interface BenchOptions {
  /** Another Node binary to run the bench on (a path, or `lts`); unset: the running node. */
  node?: string;
  /** Absolute path of the results JSON; default bench/results/latest.json. */
  out: string;
  /** The arguments without `--node` and its value, passed on to the re-run. */
  forward: string[];
}

export function benchOptions(args: readonly string[]): BenchOptions {
  const forward: string[] = [];
  let node: string | undefined;
  let out = join(ROOT, 'bench/results/latest.json');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--node' || arg === '--out') {
      const value = args[++i];
      if (!value) throw new Error(`${arg} needs a value`);
      if (arg === '--node') node = value;
      else {
        out = resolve(value);
        forward.push(arg, out);
      }
    } else forward.push(arg);
  }
  return { ...(node ? { node } : {}), out, forward };
}

/** The LTS binary, fetched from the npm registry once and kept in node_modules/.cache/bench-node/<version>. */
export function ltsNode(): string {
  const version = readFileSync(join(ROOT, '.ci/node-lts-version'), 'utf8').trim();
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch as string];
  if (!arch || process.platform !== 'linux')
    throw new Error(`no node-linux package for ${process.platform}/${process.arch}`);
  const dir = join(ROOT, 'node_modules/.cache/bench-node', version);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  process.stderr.write(`fetching node-linux-${arch}@${version} from the npm registry\n`);
  execFileSync('npm', ['pack', `node-linux-${arch}@${version}`, '--silent'], { cwd: dir, stdio: 'ignore' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${dir}`);
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
  rmSync(join(dir, tarball));
  return bin;
}

/** Run bench/run.ts on `node` (a path or `lts`) with `forward`; resolves to its exit code. */
export function rerunOn(node: string, forward: readonly string[]): Promise<number> {
  const bin = node === 'lts' ? ltsNode() : resolve(node);
  process.stderr.write(`bench: running on ${bin}\n`);
  const child = spawn(bin, ['--import', 'tsx', join(ROOT, 'bench/run.ts'), ...forward], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child through the terminal's process group; a SIGTERM to us is passed on.
  process.once('SIGTERM', () => child.kill('SIGTERM'));
  return new Promise((done) => child.once('exit', (code) => done(code ?? 1)));
}
