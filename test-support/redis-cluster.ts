/**
 * A real Redis Cluster for tests: three primaries and three replicas, each a `redis-server` process on a
 * free loopback port, with its files in a temp dir. `stop()` kills them and removes the dir; so does the
 * process's exit or SIGINT/SIGTERM, and a detached watchdog does it when the test process is killed with
 * SIGKILL (nothing else would: redis-server does not notice its parent die).
 *
 * `cluster-node-timeout 1000` keeps an automatic failover near two seconds, so a test can kill a primary
 * and wait for its replica instead of forcing the promotion.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeTcpPort } from './processes.js';
import { requireTool } from './tools.js';

const run = promisify(execFile);

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'primary' | 'replica';
  /** Flags such as `fail` or `myself`. */
  flags: string[];
  /** The primary's id, for a replica. */
  primaryId: string | null;
  /** Slot ranges served, for a primary: [from, to] inclusive. */
  slots: Array<[number, number]>;
}

export interface RedisClusterServer {
  /** Every node's port, primaries and replicas. */
  ports: number[];
  /** `host:port,host:port,…`, as REDIS_CLUSTER_NODES takes it. */
  seeds: string;
  /** Run redis-cli against one node; answers its output. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The topology as a live node (the first that answers) sees it. */
  topology(): Promise<ClusterNodeInfo[]>;
  /** The slot of a key or shard channel (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /** The primary serving a slot now. */
  primaryOf(slot: number): Promise<ClusterNodeInfo>;
  /** SIGKILL one node, as a crash would. */
  kill(port: number): Promise<void>;
  /** Resolves when every live node reports cluster_state:ok and agrees on the primaries. */
  waitOk(timeoutMs?: number): Promise<void>;
  /** The pid of the process on `port` (for CPU figures from /proc). */
  pid(port: number): number | undefined;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parseNodes(text: string): ClusterNodeInfo[] {
  const out: ClusterNodeInfo[] = [];
  for (const line of text.trim().split('\n')) {
    const [id, addr, flagText, primary, , , , , ...slotFields] = line.trim().split(' ');
    if (!id || !addr || !flagText) continue;
    const flags = flagText.split(',');
    const port = Number(addr.split('@')[0]!.split(':').at(-1));
    const slots: Array<[number, number]> = [];
    for (const s of slotFields) {
      if (s.startsWith('[')) continue; // a slot being migrated
      const [from, to = from] = s.split('-').map(Number);
      slots.push([from!, to!]);
    }
    out.push({
      id,
      port,
      role: flags.includes('master') ? 'primary' : 'replica',
      flags,
      primaryId: primary && primary !== '-' ? primary : null,
      slots,
    });
  }
  return out;
}

/** Starts the cluster; null when redis-server or redis-cli is missing outside CI (the caller skips). */
export async function startRedisCluster(
  options: { primaries?: number; nodeTimeoutMs?: number } = {},
): Promise<RedisClusterServer | null> {
  const server = requireTool('redis-server');
  const cliBin = requireTool('redis-cli');
  if (!server || !cliBin) return null;
  const primaries = options.primaries ?? 3;
  const dir = mkdtempSync(join(tmpdir(), 'rp-redis-cluster-'));
  const ports: number[] = [];
  for (let i = 0; i < primaries * 2; i++) {
    let p = await freeTcpPort();
    // The cluster bus listens on port + 10000: both must be free.
    while (p > 55_000 || ports.includes(p)) p = await freeTcpPort();
    ports.push(p);
  }
  const children = new Map<number, ChildProcess>();
  const killAll = () => {
    for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = () => {
    killAll();
    process.exit(130);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  for (const port of ports) {
    const child = spawn(
      server,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 1000),
        // A replica always stands for election, however long it was cut off.
        '--cluster-replica-validity-factor',
        '0',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: 'ignore' },
    );
    children.set(port, child);
  }
  // SIGKILL of this process runs no handler: a detached shell waits for it to go and cleans up.
  const pids = [...children.values()].map((c) => c.pid).join(' ');
  spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${pids} 2>/dev/null; rm -rf '${dir}'`,
    ],
    { detached: true, stdio: 'ignore' },
  ).unref();

  const cli = async (port: number, ...args: string[]) =>
    (await run(cliBin, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 })).stdout;
  const alive = (port: number) => {
    const c = children.get(port);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  };
  for (const port of ports) {
    for (let i = 0; i < 100; i++) {
      if ((await cli(port, 'PING').catch(() => '')).trim() === 'PONG') break;
      await sleep(50);
    }
  }
  await run(
    cliBin,
    [
      '--cluster',
      'create',
      ...ports.map((p) => `127.0.0.1:${p}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ],
    { timeout: 60_000 },
  );

  const topology = async () => {
    for (const port of ports) {
      if (!alive(port)) continue;
      const text = await cli(port, 'CLUSTER', 'NODES').catch(() => '');
      if (text.includes('myself')) return parseNodes(text);
    }
    throw new Error('no cluster node answers');
  };
  const waitOk = async (timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        ports.filter(alive).map(async (p) => {
          const info = await cli(p, 'CLUSTER', 'INFO').catch(() => '');
          const nodes = parseNodes(await cli(p, 'CLUSTER', 'NODES').catch(() => ''));
          const healthy = nodes.filter((n) => n.role === 'primary' && !n.flags.includes('fail'));
          return info.includes('cluster_state:ok') && healthy.length === primaries ? 'ok' : 'wait';
        }),
      );
      if (states.every((s) => s === 'ok')) return;
      if (Date.now() > deadline) throw new Error(`cluster not ok after ${timeoutMs} ms`);
      await sleep(100);
    }
  };
  await waitOk();

  return {
    ports,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    cli,
    topology,
    async slotOf(key) {
      const live = ports.find(alive)!;
      return Number((await cli(live, 'CLUSTER', 'KEYSLOT', key)).trim());
    },
    async primaryOf(slot) {
      const node = (await topology()).find(
        (n) =>
          n.role === 'primary' &&
          !n.flags.includes('fail') &&
          n.slots.some(([a, b]) => a <= slot && slot <= b),
      );
      if (!node) throw new Error(`no primary serves slot ${slot}`);
      return node;
    },
    async kill(port) {
      const c = children.get(port);
      if (!c || !alive(port)) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
    waitOk,
    pid: (port) => children.get(port)?.pid,
    async stop() {
      await Promise.all(
        [...children.values()].map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const exited = new Promise((r) => c.once('exit', r));
          c.kill('SIGKILL');
          await exited;
        }),
      );
      rmSync(dir, { recursive: true, force: true });
      process.off('exit', killAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
