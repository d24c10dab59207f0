/**
 * A relay that uses every core: N worker threads (relay-worker.ts), each a whole TurnServer owning the
 * allocations of the clients that reach it, their relay sockets and timers. A client's 5-tuple always
 * reaches the same worker, so no allocation state is shared on the data path:
 *
 * - 'reuse-port' (Node ≥ 22.12 / 23.1, Linux): every worker binds the listening port with SO_REUSEPORT and
 *   the kernel picks the socket by a hash of the 4-tuple. Peers send to a relay socket, which only its
 *   owner bound. The primary touches no packet.
 * - 'handoff' (older Node, or TURN_WORKER_MODE=handoff): the primary owns the listening sockets, hands each
 *   datagram to the worker its 5-tuple hashes to, and sends what workers answer; both directions batched
 *   per event-loop turn. Relay sockets are the workers' own, as above.
 *
 * The primary owns what must stay global: the allocation quotas (workers ask before allocating), the
 * addresses of room-bound allocations (told to the other workers' room scope as announcements), the
 * relay-control commands (revocations reach every worker), and the figures (summed). TCP and TLS
 * listeners run in worker 0 only, so the stream caps (total and per client address) stay whole.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { MAX_ANNOUNCED_ADDRESSES, type RelayControlMessage } from './relay-control.js';
import type { Relay, RelayAddress, RelayStats } from './relay.js';
import type {
  Datagrams,
  FromWorker,
  ToWorker,
  WorkerData,
  WorkerMode,
  WorkerRelayOptions,
} from './relay-worker-messages.js';
import { addStats, emptyStats } from './relay-stats-sum.js';
import { bindListenerSocket, type ListenerSocket } from './worker-hooks.js';
import { listenAddresses } from './listen-addresses.js';
import type { TurnServerOptions } from './options.js';

export type { WorkerMode };

export interface MultiRelayOptions extends TurnServerOptions {
  /** Worker threads, at least 2 (1 is a plain TurnServer: see start-relay.ts). */
  workers: number;
  /** 'auto' (default): reuse-port where the platform has it, else handoff. 'handoff' forces the fallback. */
  workerMode?: 'auto' | 'handoff' | undefined;
}

/** Whether SO_REUSEPORT works here: two UDP sockets bound to one port with `reusePort` (Node ≥ 22.12). */
export function reusePortAvailable(): Promise<boolean> {
  return (probe ??= (async () => {
    const a = await bindListenerSocket('127.0.0.1', 0, true);
    if (!a) return false;
    // Node without the option ignores it: the second bind then fails with EADDRINUSE.
    const b = await bindListenerSocket('127.0.0.1', a.port, true);
    await Promise.all([a.close(), b?.close() ?? Promise.resolve()]);
    return b !== null;
  })());
}
let probe: Promise<boolean> | undefined;

interface WorkerSlot {
  index: number;
  worker: Worker;
  stats: RelayStats | null;
  /** Allocations the primary granted this worker, by user: given back on release, or when it exits. */
  admitted: Map<string, number>;
  admittedTotal: number;
  exited: Promise<void>;
  /** Handoff: datagrams for this worker, sent at the end of this turn. */
  inbox: Datagrams;
  transfer: ArrayBuffer[];
}

/** Hash of a client's 5-tuple on one listener: its owner in handoff mode. */
function owner(listener: number, address: string, port: number, workers: number): number {
  let h = (port * 31 + listener) | 0;
  for (let i = 0; i < address.length; i++) h = (Math.imul(h, 31) + address.charCodeAt(i)) | 0;
  return (h >>> 0) % workers;
}

/** The worker entry: the compiled .js beside this file, or the .ts source run through tsx's loader. */
function workerSource(): { code: string } {
  const self = import.meta.url;
  const ts = self.endsWith('.ts');
  const entry = new URL(ts ? './relay-worker.ts' : './relay-worker.js', self).href;
  if (!ts) return { code: `import(${JSON.stringify(entry)});` };
  const tsxDir = createRequire(self)
    .resolve('tsx/package.json')
    .replace(/package\.json$/, '');
  const api = pathToFileURL(`${tsxDir}dist/esm/api/index.mjs`).href;
  return {
    code: `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`,
  };
}

export class WorkerRelay implements Relay {
  private readonly slots: WorkerSlot[] = [];
  /** Handoff: the primary's listening sockets, one per address. */
  private readonly listeners: ListenerSocket[] = [];
  private flushing = false;
  private closing: Promise<void> | null = null;
  address: RelayAddress = { port: 0, tcpPort: null, tlsPort: null, addresses: [] };

  private constructor(
    private readonly o: MultiRelayOptions,
    readonly mode: WorkerMode,
    private readonly log: Logger | undefined,
  ) {}

  static async start(options: MultiRelayOptions): Promise<WorkerRelay> {
    const wanted = options.workerMode ?? 'auto';
    const mode: WorkerMode = wanted === 'auto' && (await reusePortAvailable()) ? 'reuse-port' : 'handoff';
    const relay = new WorkerRelay(options, mode, options.logger);
    try {
      await relay.startAll();
    } catch (err) {
      await relay.close();
      throw err;
    }
    relay.log?.info({ workers: options.workers, mode }, 'relay workers started');
    return relay;
  }

  private async startAll(): Promise<void> {
    const { workers, port } = this.o;
    const addresses = listenAddresses(this.o.hosts);
    let first: RelayAddress | undefined;
    for (let attempt = 0; !first; attempt++) {
      let listenPort = port;
      // SO_REUSEPORT would let us share a port another relay of this user holds (each getting half the
      // clients): the port must be free before the workers bind it together.
      if (this.mode === 'reuse-port' && port !== 0 && !(await portFree(addresses, port)))
        throw portError(addresses[0] ?? '', port);
      if (this.mode === 'handoff') {
        const taken = await this.bindListeners(addresses, port);
        if (taken === null) throw portError(addresses[0] ?? '', port);
        listenPort = taken;
      }
      try {
        // Worker 0 first: it settles the port number (when 0 was asked for) and holds TCP and TLS.
        first = await this.startWorker(0, { ...this.workerOptions(), port: listenPort }, addresses);
      } catch (err) {
        await Promise.all(this.listeners.splice(0).map((l) => l.close()));
        const retry = (port === 0 || this.o.tlsPort === 0) && attempt < 8;
        if (!retry || (err as { code?: string }).code !== 'EADDRINUSE') throw err;
      }
    }
    this.address = first;
    const rest: Promise<RelayAddress>[] = [];
    for (let i = 1; i < workers; i++)
      rest.push(
        this.startWorker(
          i,
          { ...this.workerOptions(), port: first.port, tcp: false, tlsPort: null },
          addresses,
        ),
      );
    await Promise.all(rest);
  }

  /** The options a worker's relay takes: what crosses a thread (no functions, no logger). */
  private workerOptions(): WorkerRelayOptions {
    const rest: Partial<MultiRelayOptions> = { ...this.o };
    delete rest.logger;
    delete rest.now;
    delete rest.worker;
    delete rest.workers;
    delete rest.workerMode;
    return rest as WorkerRelayOptions;
  }

  /** Handoff: bind the primary's listening sockets on every address; the port, or null when taken. */
  private async bindListeners(addresses: string[], port: number): Promise<number | null> {
    for (const [i, address] of addresses.entries()) {
      const l = await bindListenerSocket(address, port);
      if (!l) {
        await Promise.all(this.listeners.splice(0).map((s) => s.close()));
        return null;
      }
      port = l.port;
      this.listeners.push(l);
      l.onMessage((msg, from, fromPort) => this.handOff(i, msg, from, fromPort));
      l.onError?.((err) => this.log?.warn({ err, address }, 'relay listener error'));
    }
    return port;
  }

  private handOff(listener: number, msg: Buffer, address: string, port: number): void {
    const slot = this.slots[owner(listener, address, port, this.slots.length)];
    if (!slot) return;
    slot.inbox.push(listener, msg, address, port);
    // A received datagram owns its whole ArrayBuffer: moved to the worker, not copied.
    if (msg.byteOffset === 0 && msg.buffer.byteLength === msg.length)
      slot.transfer.push(msg.buffer as ArrayBuffer);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flushInboxes());
    }
  }

  private flushInboxes(): void {
    this.flushing = false;
    for (const slot of this.slots) {
      if (slot.inbox.length === 0) continue;
      const d = slot.inbox;
      const transfer = slot.transfer;
      slot.inbox = [];
      slot.transfer = [];
      slot.worker.postMessage({ t: 'dgrams', d } satisfies ToWorker, transfer);
    }
  }

  private startWorker(
    index: number,
    options: WorkerRelayOptions,
    addresses: string[],
  ): Promise<RelayAddress> {
    const data: WorkerData = {
      index,
      mode: this.mode,
      options,
      logLevel: this.log?.level,
      listeners: this.listeners.map((l, i) => ({ address: addresses[i]!, port: l.port })),
    };
    const worker = new Worker(workerSource().code, { eval: true, workerData: data });
    const slot: WorkerSlot = {
      index,
      worker,
      stats: null,
      admitted: new Map(),
      admittedTotal: 0,
      exited: new Promise((resolve) => worker.once('exit', () => resolve())),
      inbox: [],
      transfer: [],
    };
    this.slots[index] = slot;
    return new Promise<RelayAddress>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') {
          ready = true;
          resolve(m.address);
        } else if (m.t === 'failed') reject(Object.assign(new Error(m.error.message), m.error));
        else this.onMessage(slot, m);
      });
      worker.on('error', (err) => {
        if (!ready) return reject(err);
        this.log?.error({ err, worker: index }, 'relay worker failed');
      });
      void slot.exited.then(() => {
        this.release(slot);
        if (!ready) reject(new Error(`relay worker ${index} exited before it was ready`));
        else if (!this.closing) this.log?.error({ worker: index }, 'relay worker exited');
      });
    });
  }

  private onMessage(slot: WorkerSlot, m: FromWorker): void {
    switch (m.t) {
      case 'admit':
        return this.post(slot, { t: 'admitted', id: m.id, code: this.admit(slot, m.user) });
      case 'release': {
        const n = (slot.admitted.get(m.user) ?? 0) - 1;
        if (n > 0) slot.admitted.set(m.user, n);
        else slot.admitted.delete(m.user);
        slot.admittedTotal = Math.max(0, slot.admittedTotal - 1);
        return;
      }
      case 'room':
        // The other workers learn where this room's allocation is, as if signaling had announced it.
        for (const other of this.slots)
          if (other !== slot)
            this.post(other, {
              t: 'control',
              m: {
                type: 'relay-control',
                op: 'announce-room-addresses',
                room: m.room,
                addresses: m.addresses.slice(0, MAX_ANNOUNCED_ADDRESSES),
              },
            });
        return;
      case 'stats':
        slot.stats = m.stats;
        this.statsWaiters.get(slot)?.();
        return;
      case 'dgrams': {
        const d = m.d;
        for (let k = 0; k < d.length; k += 4) {
          const bytes = d[k + 1] as Uint8Array;
          this.listeners[d[k] as number]?.send(
            Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
            0,
            bytes.byteLength,
            d[k + 3] as number,
            d[k + 2] as string,
          );
        }
        return;
      }
      case 'ready':
      case 'failed':
      case 'closed':
        return;
      default: {
        const unknown: never = m;
        throw new Error(`unknown message from a relay worker: ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** One allocation of `user` on `slot`'s worker, against the quotas over every worker (RFC 8656 §7.2). */
  private admit(slot: WorkerSlot, user: string): number | null {
    if (this.closing) return 508;
    let ofUser = 0;
    let total = 0;
    for (const s of this.slots) {
      ofUser += s.admitted.get(user) ?? 0;
      total += s.admittedTotal;
    }
    if (ofUser >= this.o.userQuota) return 486;
    if (total >= this.o.totalQuota) return 508;
    slot.admitted.set(user, (slot.admitted.get(user) ?? 0) + 1);
    slot.admittedTotal++;
    return null;
  }

  /** A worker that exited holds nothing any more. */
  private release(slot: WorkerSlot): void {
    slot.admitted.clear();
    slot.admittedTotal = 0;
  }

  private post(slot: WorkerSlot, m: ToWorker): void {
    try {
      slot.worker.postMessage(m);
    } catch {
      // The worker is gone: nothing of it is left to tell.
    }
  }

  private broadcast(m: RelayControlMessage): void {
    for (const slot of this.slots) this.post(slot, { t: 'control', m });
  }

  revokeUser(userId: string, credentialsExpiringBy: number): void {
    this.broadcast({ type: 'relay-control', op: 'revoke-user', userId, credentialsExpiringBy });
  }

  announceRoomAddresses(room: string, addresses: readonly string[]): void {
    this.broadcast({
      type: 'relay-control',
      op: 'announce-room-addresses',
      room,
      addresses: addresses.slice(0, MAX_ANNOUNCED_ADDRESSES),
    });
  }

  /** The workers' figures summed, as each last reported them (at most 200 ms old). */
  stats(): RelayStats {
    const sum = emptyStats();
    for (const slot of this.slots) if (slot.stats) addStats(sum, slot.stats);
    return sum;
  }

  private readonly statsWaiters = new Map<WorkerSlot, () => void>();

  /** Each worker's figures as it last reported them, by worker index (tests see the spread here). */
  workerStats(): Array<RelayStats | null> {
    return this.slots.map((s) => s.stats);
  }

  /** Ask every worker for its figures now; resolves with the sum once all have answered. */
  async refreshStats(): Promise<RelayStats> {
    await Promise.all(
      this.slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            this.statsWaiters.set(slot, () => {
              this.statsWaiters.delete(slot);
              resolve();
            });
            this.post(slot, { t: 'stats' });
            void slot.exited.then(() => resolve());
          }),
      ),
    );
    return this.stats();
  }

  /** Idempotent: every worker closes its relay (allocations, sockets, timers) and exits. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const l of this.listeners) l.stop();
      await Promise.all(
        this.slots.map(async (slot) => {
          this.post(slot, { t: 'close' });
          const timeout = setTimeout(() => void slot.worker.terminate(), 10_000);
          await slot.exited;
          clearTimeout(timeout);
        }),
      );
      await Promise.all(this.listeners.splice(0).map((l) => l.close()));
    })();
    return this.closing;
  }
}

/** Whether `port` can be bound (without SO_REUSEPORT) on every address. */
async function portFree(addresses: string[], port: number): Promise<boolean> {
  const bound = await Promise.all(addresses.map((a) => bindListenerSocket(a, port)));
  await Promise.all(bound.map((s) => s?.close() ?? Promise.resolve()));
  return bound.every((s) => s !== null);
}

/** A port the primary could not bind, shaped as Node's own listen errors so entry points name the key. */
function portError(address: string, port: number): Error {
  return Object.assign(new Error(`TURN port ${address}:${port}/udp is not available`), {
    code: port < 1024 && port !== 0 ? 'EACCES' : 'EADDRINUSE',
    address,
    port,
  });
}
