/** Start project entry points as real child processes (tsx), read their output, stop them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The JSON log line `npm start` writes once signaling listens (the human banner is only for a terminal in
 * development, and tests read a pipe).
 */
export const SIGNALING_STARTED = /"msg":"signaling started"/;

export interface Proc {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves when the combined output matches; rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): void;
}

export function startScript(script: string, args: string[], env: Record<string, string>): Proc {
  // node itself with tsx as a loader: one process, so a signal (kill -9 included) reaches the server.
  return startNode(ROOT, ['--import', 'tsx', script, ...args], env);
}

/**
 * Like {@link startScript}, with the open-file soft limit raised to the hard limit first (a shell's
 * `ulimit -n`; Node cannot), for processes that hold many sockets. `exec` keeps one process, so signals
 * reach node. `stdin: 'pipe'` gives the child a stdin to command it (it sees EOF if the test dies).
 */
export function startScriptAtFdLimit(
  script: string,
  env: Record<string, string>,
  options: { stdin?: 'pipe' | 'ignore' } = {},
): Proc {
  const run = `ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" --import tsx "$1"`;
  return startNode(ROOT, ['-c', run, process.execPath, script], env, { command: 'sh', ...options });
}

/** Plain `node <args>` in `cwd` (a compiled tree, as the image runs it), with only `env` set. */
export function startNode(
  cwd: string,
  args: string[],
  env: Record<string, string>,
  options: { command?: string; stdin?: 'pipe' | 'ignore' } = {},
): Proc {
  const child = spawn(options.command ?? process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
    waitFor(pattern, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(pattern);
          if (m) {
            done();
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exited.then(() => {
          check();
          if (listeners.has(check)) {
            done();
            reject(new Error(`process exited before ${pattern}; output:\n${out}`));
          }
        });
        check();
      });
    },
  };
}

/** A TCP port free right now on 127.0.0.1. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A UDP port free right now on 127.0.0.1. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A port free right now on 127.0.0.1 for both UDP and TCP: a relay's TURN_PORT takes both (TURN over
 * TCP shares the port), and a UDP-only pick can collide with a TCP listener already there.
 */
export async function freeUdpTcpPort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freeUdpPort();
    const tcpFree = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (tcpFree) return port;
  }
  throw new Error('no port free for both UDP and TCP in 50 tries');
}
