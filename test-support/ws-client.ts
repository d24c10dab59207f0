/** A promise-shaped raw WebSocket client for protocol tests: send frames, await the next of a type. */
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import type { ServerMessage, ServerMessageOf, ServerMessageType } from '../signaling/protocol/index.js';
import { SUBPROTOCOL } from '../signaling/protocol/index.js';

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly headers: IncomingHttpHeaders = {},
  ) {
    super(`upgrade refused with ${status}`);
  }
}

export interface ConnectOptions {
  token?: string;
  origin?: string;
  /** Send the token as a `bearer.` subprotocol instead of ?token=. */
  tokenInProtocol?: boolean;
  headers?: Record<string, string>;
  /** false: do not answer pings (a silent, dead client). */
  autoPong?: boolean;
}

export class TestClient {
  readonly received: ServerMessage[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(JSON.parse((data as Buffer).toString('utf8')) as ServerMessage);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
    );
  }

  static connect(url: string, options: ConnectOptions = {}): Promise<TestClient> {
    const target =
      options.token && !options.tokenInProtocol ? `${url}?token=${encodeURIComponent(options.token)}` : url;
    const protocols = [
      SUBPROTOCOL,
      ...(options.token && options.tokenInProtocol ? [`bearer.${options.token}`] : []),
    ];
    const ws = new WebSocket(target, protocols, {
      ...(options.origin ? { origin: options.origin } : {}),
      headers: options.headers ?? {},
      autoPong: options.autoPong ?? true,
    });
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, body, res.headers)));
      });
      ws.once('error', reject);
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** The next not-yet-consumed message of `type` (earlier messages of other types are skipped past). */
  async next<T extends ServerMessageType>(type: T, timeoutMs = 3000): Promise<ServerMessageOf<T>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.received.length) {
        const m = this.received[this.cursor++]!;
        if (m.type === type) return m as ServerMessageOf<T>;
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `no ${type} within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((m) => m.type))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Messages of a type received so far. */
  all<T extends ServerMessageType>(type: T): Array<ServerMessageOf<T>> {
    return this.received.filter((m): m is ServerMessageOf<T> => m.type === type);
  }

  async join(room: string, extra: Record<string, unknown> = {}): Promise<ServerMessageOf<'welcome'>> {
    this.send({ type: 'join', id: `join-${room}`, room, ...extra });
    return this.next('welcome');
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)
      this.ws.close(code);
    return this.closed;
  }
}
