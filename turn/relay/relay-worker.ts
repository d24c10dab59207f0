/**
 * One worker thread of a multi-worker relay (relay-workers.ts starts it): a whole TurnServer that owns
 * the allocations of the clients that reach it, their relay sockets and their timers. What must stay
 * global goes through the primary: quotas (admit/release), the addresses of room-bound allocations (so
 * room scope on one worker sees a room's allocations on the others), and in handoff mode the listening
 * sockets themselves.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { applyRelayControl } from './relay-control.js';
import type { Datagrams, FromWorker, ToWorker, WorkerData } from './relay-worker-messages.js';
import { TurnServer } from './turn-server.js';
import type { ListenerSocket, WorkerHooks } from './worker-hooks.js';

/** ms between checks for changed figures, pushed to the primary (a scrape sees them at most this late). */
const STATS_INTERVAL_MS = 200;

const port = parentPort!;
const data = workerData as WorkerData;
const post = (m: FromWorker) => port.postMessage(m);
const logger = data.logLevel
  ? pino({ level: data.logLevel, base: { component: 'turn', worker: data.index } })
  : undefined;

const admits = new Map<number, (code: number | null) => void>();
let nextAdmit = 0;

/** Handoff: stand-ins for the primary's listening sockets, by listener index. */
const handlers: Array<(msg: Buffer, address: string, port: number) => void> = [];
let outgoing: Datagrams = [];
let flushing = false;
const flush = () => {
  flushing = false;
  const d = outgoing;
  outgoing = [];
  if (d.length > 0) post({ t: 'dgrams', d });
};

function handoffListener(index: number, listenPort: number): ListenerSocket {
  let stopped = false;
  return {
    port: listenPort,
    onMessage(handler) {
      handlers[index] = (msg, address, p) => {
        if (!stopped) handler(msg, address, p);
      };
    },
    send(buf, offset, length, p, address) {
      // A copy of exactly these bytes: the caller may reuse its buffer before the batch leaves at the end
      // of this turn, and cloning a view would copy its whole backing store (an 8 KiB pool slab, say).
      outgoing.push(index, new Uint8Array(buf.subarray(offset, offset + length)), address, p);
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
    },
    stop() {
      stopped = true;
    },
    close() {
      stopped = true;
      return Promise.resolve();
    },
  };
}

const hooks: WorkerHooks = {
  reusePort: data.mode === 'reuse-port',
  admit: (user) =>
    new Promise((resolve) => {
      const id = nextAdmit++;
      admits.set(id, resolve);
      post({ t: 'admit', id, user });
    }),
  release: (user) => post({ t: 'release', user }),
  roomAllocation: (room, addresses) => post({ t: 'room', room, addresses: [...addresses] }),
};
if (data.mode === 'handoff')
  hooks.bindListener = (address) => {
    const i = data.listeners.findIndex((l) => l.address === address);
    // The relay listens on the addresses the primary bound: any other is a bug, not a busy port.
    if (i < 0) throw new Error(`no handoff listener on ${address}`);
    return Promise.resolve(handoffListener(i, data.listeners[i]!.port));
  };

async function run(): Promise<void> {
  let relay: TurnServer;
  try {
    relay = await TurnServer.start({ ...data.options, worker: hooks, logger });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
    post({
      t: 'failed',
      error: { message: e.message, code: e.code, address: e.address, port: e.port },
    });
    port.close();
    return;
  }
  let last = '';
  const report = (force: boolean) => {
    const stats = relay.stats();
    const key = JSON.stringify({
      ...stats,
      counters: { ...stats.counters, allocate: [...stats.counters.allocate] },
    });
    if (key === last && !force) return;
    last = key;
    post({ t: 'stats', stats });
  };
  const timer = setInterval(() => report(false), STATS_INTERVAL_MS);
  port.on('message', (m: ToWorker) => {
    switch (m.t) {
      case 'dgrams':
        return deliver(m.d);
      case 'admitted': {
        const resolve = admits.get(m.id);
        admits.delete(m.id);
        return resolve?.(m.code);
      }
      case 'control':
        return applyRelayControl(relay, m.m);
      case 'stats':
        return report(true);
      case 'close':
        clearInterval(timer);
        // Allocates waiting for the primary see `closing` once answered: answer them all now.
        for (const resolve of admits.values()) resolve(508);
        admits.clear();
        void relay.close().then(() => {
          report(true);
          flush();
          post({ t: 'closed' });
          port.close();
        });
        return;
      default: {
        const unknown: never = m;
        throw new Error(`unknown message to a relay worker: ${JSON.stringify(unknown)}`);
      }
    }
  });
  post({ t: 'ready', address: relay.address });
}

function deliver(d: Datagrams): void {
  for (let k = 0; k < d.length; k += 4) {
    const bytes = d[k + 1] as Uint8Array;
    handlers[d[k] as number]?.(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      d[k + 2] as string,
      d[k + 3] as number,
    );
  }
}

void run();
