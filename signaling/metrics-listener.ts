/**
 * The metrics listener: /metrics (and /healthz, /readyz for whoever watches the instance) on a port of its
 * own (METRICS_PORT), which the load balancer does not route to, so the figures of every room and relay
 * never reach the internet. In production it is on by default; the public port then has no /metrics.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Registry } from 'prom-client';

export class MetricsListener {
  private readonly http: Server;
  private readonly sockets = new Set<Socket>();
  private closed: Promise<void> | null = null;

  constructor(registry: Registry, ready: () => boolean) {
    this.http = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://metrics').pathname;
      if (req.method !== 'GET') return void res.writeHead(405).end();
      if (path === '/metrics') {
        registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(text);
          },
          () => res.writeHead(500).end(),
        );
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      } else if (path === '/readyz') {
        const ok = ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' }).end(`{"ready":${ok}}`);
      } else {
        res.writeHead(404).end();
      }
    });
    this.http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    return this.http.address() as AddressInfo;
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (!this.http.listening) return resolve();
      this.http.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
    return this.closed;
  }
}
