/** A real redis-server on a free loopback port, started and stopped (and restarted) by a test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freeTcpPort } from './processes.js';
import { requireTool } from './tools.js';

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** Start again on the same port, empty (no persistence). */
  restart(): Promise<void>;
}

function pingable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      resolve(String(d).startsWith('+PONG'));
      s.destroy();
    });
    s.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<RedisServer | null> {
  const bin = requireTool('redis-server');
  if (!bin) return null;
  const port = await freeTcpPort();
  let child: ChildProcess;
  const launch = async () => {
    child = spawn(
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--loglevel',
        'warning',
      ],
      {
        stdio: 'ignore',
      },
    );
    for (let i = 0; i < 100 && !(await pingable(port)); i++) await new Promise((r) => setTimeout(r, 50));
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };
  await launch();
  return { port, url: `redis://127.0.0.1:${port}`, stop, restart: async () => (await stop(), launch()) };
}
