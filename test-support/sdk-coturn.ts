/**
 * A real coturn (`turnserver`) on loopback for SDK relay tests: TURN REST API auth (`use-auth-secret`)
 * with the test secret that signaling mints credentials from, loopback peers allowed (tests only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeUdpPort } from './processes.js';
import { TEST_TURN_SECRET } from './signaling.js';
import { requireTool } from './tools.js';

export interface Coturn {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** A STUN Binding request (RFC 8489 §5): answered once the UDP listener is up. */
function stunAnswers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    for (let i = 8; i < 20; i++) req[i] = Math.floor(Math.random() * 256);
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      s.close();
      resolve(ok);
    };
    s.once('message', () => finish(true));
    s.once('error', () => finish(false));
    s.send(req, port, '127.0.0.1');
  });
}

/** Start coturn on `port` (default: a free one); null when turnserver is not installed (outside CI). */
export async function startCoturn(port?: number): Promise<Coturn | null> {
  const bin = requireTool('turnserver');
  if (!bin) return null;
  const listenPort = port ?? (await freeUdpPort());
  const dir = mkdtempSync(join(tmpdir(), 'relay-coturn-'));
  const minPort = 30_000 + Math.floor(Math.random() * 300) * 100;
  const child: ChildProcess = spawn(
    bin,
    [
      '-n',
      '--listening-ip=127.0.0.1',
      '--relay-ip=127.0.0.1',
      `--listening-port=${listenPort}`,
      '--use-auth-secret',
      `--static-auth-secret=${TEST_TURN_SECRET}`,
      '--realm=relay.test',
      '--allow-loopback-peers',
      '--no-cli',
      '--no-tls',
      '--no-dtls',
      '--no-tcp-relay',
      `--min-port=${minPort}`,
      `--max-port=${minPort + 99}`,
      `--pidfile=${join(dir, 'turn.pid')}`,
      `--userdb=${join(dir, 'turndb')}`,
      '--log-file=stdout',
      '--simple-log',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  // coturn takes seconds to start its threads on two busy cores (over 10 s seen under the full suite).
  for (let i = 0; i < 250; i++) {
    if (child.exitCode !== null) break;
    if (await stunAnswers(listenPort, 100)) {
      return { port: listenPort, url: `turn:127.0.0.1:${listenPort}?transport=udp`, stop };
    }
  }
  await stop();
  throw new Error(`coturn did not start:\n${output}`);
}
