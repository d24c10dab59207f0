/**
 * The reference: the smallest useful `ws` relay, with no auth, validation, rooms or limits. Clients name
 * themselves with ?id=; a frame {to, ...} is forwarded to `to` with `from` added. It is the floor that our
 * safety costs are measured against.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const peers = new Map<string, WebSocket>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const id = new URL(req.url ?? '/', 'http://x').searchParams.get('id') ?? String(Math.random());
  peers.set(id, ws);
  ws.on('message', (data) => {
    const msg = JSON.parse((data as Buffer).toString('utf8')) as { to: string; from?: string };
    msg.from = id;
    peers.get(msg.to)?.send(JSON.stringify(msg));
  });
  ws.on('close', () => peers.delete(id));
});
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(http.address() as { port: number }).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
