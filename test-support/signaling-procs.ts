/**
 * Signaling instances as real processes (the `npm start` entry point with the bundled relay off), for
 * tests that need more sockets than one process may hold or a drain by SIGTERM as an orchestrator sends
 * it; and a reader for the counters of their `/metrics`.
 */
import { mintDevToken } from '../signaling/auth/token-verifier.js';
import { WS_PATH } from '../signaling/server.js';
import { freeTcpPort, startScriptAtFdLimit, type Proc } from './processes.js';
import { TEST_JWT_SECRET, TEST_TURN_SECRET } from './signaling.js';

export interface SignalingProc {
  port: number;
  wsUrl: string;
  httpUrl: string;
  proc: Proc;
  /** A counter or gauge of /metrics (summed over the label sets that contain `labels`), or 0. */
  metric(name: string, labels?: string): Promise<number>;
  /** SIGTERM (a drain) and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Start one instance on a free port (or `port`), every variable of `env` set, its open-file limit at the
 * hard limit; resolves once it listens.
 */
export async function startSignalingProc(env: Record<string, string>, port?: number): Promise<SignalingProc> {
  const chosen = port ?? (await freeTcpPort());
  const proc = startScriptAtFdLimit('signaling/main.ts', {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    TURN_SECRETS: TEST_TURN_SECRET,
    TURN_EMBEDDED: 'false',
    HOST: '127.0.0.1',
    PORT: String(chosen),
    LOG_LEVEL: 'warn',
    ...env,
  });
  // At warn the start line is not written; readiness says it listens.
  const httpUrl = `http://127.0.0.1:${chosen}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.child.exitCode !== null) throw new Error(`signaling exited: ${proc.output()}`);
    const ok = await fetch(`${httpUrl}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`signaling did not start: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port: chosen,
    wsUrl: `ws://127.0.0.1:${chosen}${WS_PATH}`,
    httpUrl,
    proc,
    metric: async (name, labels = '') => {
      const text = await (await fetch(`${httpUrl}/metrics`)).text();
      return readMetric(text, name, labels);
    },
    stop: async () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.kill('SIGTERM');
      const stopped = await Promise.race([
        proc.exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 60_000)),
      ]);
      if (!stopped) proc.kill('SIGKILL');
    },
  };
}

/** Sum of a metric's samples whose label set contains `labels` (e.g. `result="admitted"`). */
export function readMetric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!(rest.startsWith(' ') || rest.startsWith('{'))) continue;
    if (labels && !rest.includes(labels)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A client token for the instances above (their JWT secret and default audience and issuer). */
export function procToken(userId: string, rooms: string[], ttlSec = 3600): string {
  return mintDevToken({
    secret: TEST_JWT_SECRET,
    userId,
    rooms,
    audience: 'relay-platform',
    issuer: 'relay-platform',
    ttlSec,
  });
}
