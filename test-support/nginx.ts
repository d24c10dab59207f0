/** Real nginx in front of signaling instances, configured from infra/nginx/signaling.conf (not a copy of it). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, freeTcpPort } from './processes.js';
import { requireTool } from './tools.js';

export interface RunningNginx {
  port: number;
  stop(): Promise<void>;
}

/** The shipped config with the listen port and upstream servers replaced. */
export function nginxConfig(listenPort: number, upstreamPorts: number[]): string {
  const shipped = readFileSync(join(ROOT, 'infra/nginx/signaling.conf'), 'utf8');
  const servers = upstreamPorts
    .map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`)
    .join('\n');
  return shipped
    .replace(/^ {4}server 127\.0\.0\.1:\d+ .*\n(?: {4}server 127\.0\.0\.1:\d+ .*\n)*/m, `${servers}\n`)
    .replace(/listen \d+;/, `listen 127.0.0.1:${listenPort};`);
}

/** `workerConnections`: nginx's per-worker cap (each proxied WebSocket holds two). Default 1024. */
export async function startNginx(
  upstreamPorts: number[],
  options: { workerConnections?: number } = {},
): Promise<RunningNginx | null> {
  const bin = requireTool('nginx');
  if (!bin) return null;
  const port = await freeTcpPort();
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'));
  writeFileSync(join(dir, 'signaling.conf'), nginxConfig(port, upstreamPorts));
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
      `events { worker_connections ${options.workerConnections ?? 1024}; }\n` +
      `http {\n  access_log off;\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n` +
      `  fastcgi_temp_path ${dir}/fcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;\n` +
      `  include ${dir}/signaling.conf;\n}\n`,
  );
  const child: ChildProcess = spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (up) break;
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
