/**
 * node-turn 0.0.6 exactly as shipped, in a child process, so the defect tests can show each defect on the
 * package the relay replaced: it throws out of socket handlers and keeps timers after stop(), so it must
 * not share a process with the test runner. For the probes that need a process of their own (does it exit
 * by itself after stop?), the same child runs our relay instead, behind the same commands.
 *
 * This is the only file in the repository that loads node-turn, and it does so only in the child.
 *
 * Child → parent: JSON lines on stdout prefixed with `@@` (pipes are written synchronously on Linux, so a
 * line printed while the process is dying still arrives). Parent → child: IPC messages. The child unrefs
 * the IPC channel, so only the relay's own sockets and timers keep it alive: that is what the stop probe
 * measures.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT, freeUdpPort } from './processes.js';

export type RelayImpl = 'node-turn' | 'ours';

export interface ChildRelayOptions {
  impl: RelayImpl;
  realm: string;
  /** node-turn: long-term users, added with `addUser` as its README shows. */
  users?: Record<string, string>;
  /** ours: the TURN REST API secret. */
  secret?: string;
  /** node-turn's `defaultAllocatetLifetime` (its spelling), seconds; default 600. */
  defaultLifetimeSec?: number;
  /** Longest lifetime, seconds; default 3600. */
  maxLifetimeSec?: number;
  /** ours: allocation quotas (node-turn has none); defaults 10 and 1000. */
  userQuota?: number;
  totalQuota?: number;
}

/** What the child reports about itself. */
export interface RelayProbe {
  /** Entries in node-turn's nonce table; null for ours, which has none. */
  nonces: number | null;
  /** Allocations the relay lists. */
  allocations: number;
  /** Ref'd timers and UDP sockets: what keeps the child's event loop alive. */
  timers: number;
  udpSockets: number;
}

export interface StopReport {
  /** Code of an error stop()/close() threw, if any. */
  error: string | null;
  /** process.getActiveResourcesInfo() once the listening socket has closed. */
  resources: string[];
}

type ChildLine =
  | { type: 'listening'; port: number }
  | { type: 'bind-failed'; code: string }
  | ({ type: 'probe' } & RelayProbe)
  | ({ type: 'stopped' } & StopReport)
  | { type: 'uncaught'; code: string | null; name: string };

type Command = { cmd: 'probe' } | { cmd: 'stop' };

export interface ChildRelay {
  readonly impl: RelayImpl;
  readonly address: { host: string; port: number };
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  probe(): Promise<RelayProbe>;
  stop(): Promise<StopReport>;
  /** Code of the first uncaught exception the child reported, if any. */
  uncaught(): string | null | undefined;
  /** Everything the child printed (for failure messages). */
  output(): string;
  /** SIGKILL unless already gone; resolves when it has exited. */
  kill(): Promise<void>;
}

const HARNESS = fileURLToPath(import.meta.url);
const WAIT_MS = 15_000;

/** Start a relay in a child process; retries when node-turn lost a race for its fixed port. */
export async function startChildRelay(options: ChildRelayOptions): Promise<ChildRelay> {
  for (let attempt = 0; ; attempt++) {
    const relay = await spawnOnce(options);
    if (relay) return relay;
    if (attempt === 4) throw new Error('node-turn could not bind a listening port');
  }
}

async function spawnOnce(options: ChildRelayOptions): Promise<ChildRelay | null> {
  const child = spawn(process.execPath, ['--import', 'tsx', HARNESS], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      RELAY_CHILD: JSON.stringify(options),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  let partial = '';
  const lines: ChildLine[] = [];
  const waiters = new Set<() => void>();
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    out += text;
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) if (line.startsWith('@@')) lines.push(JSON.parse(line.slice(2)) as ChildLine);
    for (const w of waiters) w();
  });
  // An IPC write to a child that died mid-probe must not become an unhandled 'error'.
  child.on('error', () => undefined);
  let gone = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      gone = true;
      resolve({ code, signal });
      for (const w of waiters) w();
    }),
  );

  /** The next line of one of these types after the first `from` lines; rejects on exit or after WAIT_MS. */
  const next = <T extends ChildLine['type']>(
    types: T[],
    from: number,
  ): Promise<Extract<ChildLine, { type: T }>> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.slice(from).find((l) => (types as string[]).includes(l.type));
        if (found) {
          done();
          resolve(found as Extract<ChildLine, { type: T }>);
        } else if (gone) {
          done();
          reject(new Error(`relay child exited before "${types.join('|')}"; output:\n${out}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for "${types.join('|')}" from the relay child; output:\n${out}`));
      }, WAIT_MS);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const send = (command: Command) => {
    if (!gone && child.connected) child.send(command);
  };
  const kill = async () => {
    if (!gone) child.kill('SIGKILL');
    await exited;
  };

  const first = await next(['listening', 'bind-failed'], 0).catch(async (err: unknown) => {
    await kill();
    throw err;
  });
  if (first.type === 'bind-failed') {
    await kill();
    return null;
  }
  return {
    impl: options.impl,
    address: { host: '127.0.0.1', port: first.port },
    child,
    exited,
    output: () => out,
    uncaught: () => lines.find((l) => l.type === 'uncaught')?.code,
    kill,
    async probe() {
      const from = lines.length;
      send({ cmd: 'probe' });
      const { type: _t, ...probe } = await next(['probe'], from);
      return probe;
    },
    async stop() {
      const from = lines.length;
      send({ cmd: 'stop' });
      const { type: _t, ...report } = await next(['stopped'], from);
      return report;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The child.

function emit(line: ChildLine): void {
  process.stdout.write(`@@${JSON.stringify(line)}\n`);
}

function errorCode(err: unknown): string | null {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string'
    ? ((err as NodeJS.ErrnoException).code ?? null)
    : null;
}

function resources(): { timers: number; udpSockets: number; all: string[] } {
  const all = process.getActiveResourcesInfo();
  return {
    all,
    timers: all.filter((r) => r === 'Timeout').length,
    udpSockets: all.filter((r) => r === 'UDPWrap').length,
  };
}

interface ChildRelayHandle {
  probe(): { nonces: number | null; allocations: number };
  /** Stop as the implementation offers; resolves once its listening socket has closed. */
  stop(): Promise<void>;
}

/** node-turn's surface as this harness uses it (the package ships no types). */
interface NodeTurnServer {
  addUser(username: string, password: string): void;
  start(): void;
  stop(): void;
  allocations: Record<string, unknown>;
  authentification: { nonces: Record<string, unknown> };
  network: { sockets: import('node:dgram').Socket[] };
}

async function startNodeTurn(o: ChildRelayOptions): Promise<ChildRelayHandle | null> {
  const require = createRequire(import.meta.url);
  const Server = require('node-turn') as new (config: Record<string, unknown>) => NodeTurnServer;
  // node-turn cannot listen on port 0 (`listeningPort || 3478`): take one that is free now.
  const port = await freeUdpPort();
  const server = new Server({
    listeningIps: ['127.0.0.1'],
    relayIps: ['127.0.0.1'],
    listeningPort: port,
    authMech: 'long-term',
    realm: o.realm,
    defaultAllocatetLifetime: o.defaultLifetimeSec,
    maxAllocateLifetime: o.maxLifetimeSec,
  });
  for (const [username, password] of Object.entries(o.users ?? {})) server.addUser(username, password);
  server.start();
  const listener = server.network.sockets[0]!;
  const bound = await new Promise<boolean>((resolve) => {
    listener.once('listening', () => resolve(true));
    listener.once('error', () => resolve(false));
  });
  if (!bound) return null;
  emit({ type: 'listening', port });
  return {
    probe: () => ({
      nonces: Object.keys(server.authentification.nonces).length,
      allocations: Object.keys(server.allocations).length,
    }),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        listener.once('close', () => resolve());
        try {
          server.stop();
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }),
  };
}

async function startOurs(o: ChildRelayOptions): Promise<ChildRelayHandle> {
  const { TurnServer } = await import('../turn/relay/turn-server.js');
  const relay = await TurnServer.start({
    hosts: ['0.0.0.0', '::'],
    externalIps: [],
    port: 0,
    realm: o.realm,
    secrets: [o.secret ?? ''],
    minPort: 49152,
    maxPort: 65535,
    allowedPeers: ['127.0.0.0/8'],
    deniedPeers: [],
    userQuota: o.userQuota ?? 10,
    totalQuota: o.totalQuota ?? 1000,
    maxLifetimeSec: o.maxLifetimeSec ?? 3600,
  });
  emit({ type: 'listening', port: relay.address.port });
  return {
    probe: () => ({ nonces: null, allocations: relay.stats().allocations }),
    stop: () => relay.close(),
  };
}

async function childMain(): Promise<void> {
  const options = JSON.parse(process.env.RELAY_CHILD ?? '{}') as ChildRelayOptions;
  // Report a crash's error code before Node prints it and exits; the crash itself is left alone.
  process.on('uncaughtExceptionMonitor', (err) =>
    emit({ type: 'uncaught', code: errorCode(err), name: err instanceof Error ? err.name : typeof err }),
  );
  // Parent gone (test runner killed): do not outlive it, whatever node-turn still holds open.
  process.on('disconnect', () => process.exit(0));
  process.channel?.unref();
  const relay = options.impl === 'node-turn' ? await startNodeTurn(options) : await startOurs(options);
  if (!relay) {
    emit({ type: 'bind-failed', code: 'EADDRINUSE' });
    process.exit(3);
  }
  process.on('message', (command: Command) => {
    if (command.cmd === 'probe') {
      const r = resources();
      emit({ type: 'probe', ...relay.probe(), timers: r.timers, udpSockets: r.udpSockets });
      return;
    }
    // dgram emits 'close' before libuv has finished closing the handle; two turns of the loop later the
    // resource list shows only what is really left.
    relay.stop().then(
      () =>
        setImmediate(() =>
          setImmediate(() => emit({ type: 'stopped', error: null, resources: resources().all })),
        ),
      (err: unknown) =>
        emit({ type: 'stopped', error: errorCode(err) ?? 'ERROR', resources: resources().all }),
    );
  });
}

if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) await childMain();
