/**
 * A client-load process for scale tests (`scale.e2e.test.ts`): light `ws` clients that do what the SDK
 * does on the wire (token in the `bearer.` subprotocol, `join`, answer the server's pings), opened from
 * the given loopback source addresses (one address has only ~28 000 ephemeral ports), each joined to a
 * room. It reports on stdout as JSON lines and takes commands on stdin:
 *   `sample <n>`: n timed signals between pairs of its own clients (same room); prints the latencies;
 *   `exit` (or stdin closing, e.g. the test died): close every socket and exit.
 * Input (env LOAD): { url, count, addresses: string[], roomSize, prefix }.
 */
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../signaling/protocol/index.js';
import { procToken } from './signaling-procs.js';

interface Input {
  url: string;
  count: number;
  addresses: string[];
  roomSize: number;
  prefix: string;
}

const input = JSON.parse(process.env.LOAD ?? '{}') as Input;
const PER_ADDRESS = Math.ceil(input.count / input.addresses.length);
/** Handshakes in flight at once: a busy but orderly arrival. */
const IN_FLIGHT = 100;

interface Client {
  ws: WebSocket;
  peerId: string;
  onSignal: ((sdp: string) => void) | null;
}
const clients: Client[] = [];
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

function open(i: number): Promise<Client> {
  const room = `${input.prefix}-${Math.floor(i / input.roomSize)}`;
  const token = procToken(`${input.prefix}-u${i}`, [room]);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(input.url, [SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${token}`], {
      perMessageDeflate: false,
      localAddress: input.addresses[Math.floor(i / PER_ADDRESS)]!,
    });
    const client: Client = { ws, peerId: '', onSignal: null };
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`upgrade refused ${res.statusCode ?? 0}`)));
    ws.on('open', () => ws.send(JSON.stringify({ type: 'join', room })));
    ws.on('message', (raw) => {
      const data = (raw as Buffer).toString('utf8');
      const m = JSON.parse(data) as { type: string; peerId?: string; signal?: { sdp?: string } };
      if (m.type === 'welcome') {
        client.peerId = m.peerId!;
        resolve(client);
      } else if (m.type === 'signal' && m.signal?.sdp) client.onSignal?.(m.signal.sdp);
      else if (m.type === 'error') reject(new Error(data));
    });
  });
}

async function openAll(): Promise<void> {
  let next = 0;
  const t0 = performance.now();
  let joined = 0;
  // By index, not by completion: clients 2k and 2k+1 share a room, which sample() relies on.
  const worker = async () => {
    while (next < input.count) {
      const i = next++;
      clients[i] = await open(i);
      joined++;
    }
  };
  const progress = setInterval(() => say({ joined }), 2000);
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  clearInterval(progress);
  say({ ready: joined, seconds: (performance.now() - t0) / 1000 });
}

/** n signals, each from client 2k to 2k+1 (same room), 5 ms apart; latency measured at the receiver. */
async function sample(n: number): Promise<void> {
  const latencies: number[] = [];
  const pairs = Math.floor(clients.length / 2);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(Math.random() * pairs);
    const [from, to] = [clients[2 * k]!, clients[2 * k + 1]!];
    const sentAt = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      to.onSignal = () => {
        to.onSignal = null;
        clearTimeout(timer);
        latencies.push(performance.now() - sentAt);
        resolve();
      };
      from.ws.send(JSON.stringify({ type: 'signal', to: to.peerId, signal: { type: 'offer', sdp: 'x' } }));
    });
    await new Promise((r) => setTimeout(r, 5));
  }
  say({ latencies, lost: n - latencies.length });
}

function exit(): void {
  for (const c of clients) c?.ws.terminate();
  process.exit(0);
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'sample') void sample(Number(arg));
    if (cmd === 'exit') exit();
  })
  .on('close', exit);

openAll().catch((err: unknown) => {
  say({ error: String(err) });
  exit();
});
