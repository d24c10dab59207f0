/**
 * Scaling figures for docs/SCALING.md, runnable by itself: `npx tsx bench/scaling-run.ts [--quick]`.
 *
 * (1) Redis operations per relayed signal (two instances, sender and receiver on different ones), per join
 *     and per leave, from `INFO commandstats` on every primary before and after a bounded run; on one Redis
 *     and on a three-primary cluster. Presence maintenance is switched off for this part (a TTL of ten
 *     minutes) so only the operation itself is counted; its own cost is given by the code (see SCALING.md).
 * (2) A scaled-down deployment: three signaling instances on a three-primary cluster, rooms of 2 to 16,
 *     every peer signalling a random member of its room at a bounded total rate; delivered messages per
 *     second, CPU of each signaling instance (/proc/<pid>/stat) and of each primary (`INFO cpu`), operations
 *     per primary. The same rooms and load on one instance with the in-memory bus give the baseline cost of
 *     a message that never leaves its instance.
 * `--quick`: one repetition, shorter phases; `--scaled-only`: part 2 only. Writes `bench/results/scaling.json`. A report, never a pass/fail; every loop is bounded.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { mintDevToken } from '../signaling/auth/token-verifier.js';
import { SIGNALING_STARTED, freeTcpPort, startScript, type Proc } from '../test-support/processes.js';
import { startRedis } from '../test-support/redis.js';
import { startRedisCluster } from '../test-support/redis-cluster.js';
import { TEST_JWT_SECRET } from '../test-support/signaling.js';
import { cpuSeconds } from './targets.js';
import { round } from './stats.js';

const run = promisify(execFile);
const quick = process.argv.includes('--quick');
/** Only part 2 (the scaled-down run). */
const scaledOnly = process.argv.includes('--scaled-only');
const LOAD_SECONDS = quick ? 3 : 6;
/** The high offered rate; the low one is a quarter of it (their difference gives the marginal cost). */
const OFFERED_PER_S = quick ? 600 : 1600;
const ROOM_SIZES = [2, 3, 4, 6, 8, 12, 16];
const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 10.0.0.2 rport 54400 generation 0 ufrag Xy7q network-cost 999';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RedisSide {
  name: string;
  /** Env for signaling. */
  env: Record<string, string>;
  primaries(): Promise<number[]>;
  stop(): Promise<void>;
}

const cli = async (port: number, ...args: string[]) =>
  (await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;

interface Stats {
  calls: Record<string, number>;
  cpu: number;
}
async function stats(port: number): Promise<Stats> {
  const text = await cli(port, 'INFO', 'all');
  const calls: Record<string, number> = {};
  for (const m of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) calls[m[1]!] = Number(m[2]);
  const cpu =
    Number(/^used_cpu_user:([\d.]+)/m.exec(text)?.[1] ?? 0) +
    Number(/^used_cpu_sys:([\d.]+)/m.exec(text)?.[1] ?? 0);
  return { calls, cpu };
}
/** Commands per primary between two snapshots (the INFO calls themselves left out). */
function diff(a: Stats, b: Stats): { calls: Record<string, number>; total: number; cpu: number } {
  const calls: Record<string, number> = {};
  let total = 0;
  for (const [cmd, n] of Object.entries(b.calls)) {
    if (cmd === 'info' || cmd.startsWith('config') || cmd === 'cluster|nodes' || cmd === 'cluster|slots')
      continue;
    const d = n - (a.calls[cmd] ?? 0);
    if (d <= 0) continue;
    calls[cmd] = d;
    total += d;
  }
  return { calls, total, cpu: b.cpu - a.cpu };
}

async function startInstances(side: RedisSide | null, n: number, presenceTtlMs: number) {
  const out: Array<{ proc: Proc; port: number }> = [];
  const tag = Math.random().toString(36).slice(2, 7);
  for (let i = 0; i < n; i++) {
    const port = await freeTcpPort();
    const proc = startScript('signaling/main.ts', [], {
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ID: `bench-${tag}-${i}`,
      REDIS_PREFIX: `b${tag}:`,
      PRESENCE_TTL_MS: String(presenceTtlMs),
      JWT_SECRET: TEST_JWT_SECRET,
      TURN_SECRETS: 'bench-turn-secret',
      TURN_EMBEDDED: 'false',
      RATE_LIMIT_PER_S: '100000',
      RATE_LIMIT_BURST: '100000',
      MAX_CONNECTIONS_PER_IP: '100000',
      LOG_LEVEL: 'info',
      ...(side?.env ?? {}),
    });
    out.push({ proc, port });
  }
  await Promise.all(out.map((o) => o.proc.waitFor(SIGNALING_STARTED, 60_000)));
  return {
    list: out,
    stop: async () => {
      for (const o of out) o.proc.kill('SIGTERM');
      await Promise.all(out.map((o) => o.proc.exited));
    },
  };
}

interface Peer {
  id: string;
  ws: WebSocket;
  received: number;
}
async function connect(port: number, user: string, room: string): Promise<Peer> {
  const token = mintDevToken({
    secret: TEST_JWT_SECRET,
    userId: user,
    rooms: [room],
    audience: 'relay-platform',
    issuer: 'relay-platform',
    ttlSec: 600,
  });
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws?token=${token}`, ['relay.v1'], {
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
  const peer: Peer = { id: '', ws, received: 0 };
  const welcome = new Promise<string>((resolve) =>
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString('utf8')) as { type: string; peerId?: string };
      if (m.type === 'welcome') resolve(m.peerId!);
      else if (m.type === 'signal') peer.received++;
    }),
  );
  ws.send(JSON.stringify({ type: 'join', room }));
  peer.id = await welcome;
  return peer;
}
const signal = (from: Peer, to: Peer) =>
  from.ws.send(
    JSON.stringify({
      type: 'signal',
      to: to.id,
      signal: { type: 'candidate', candidate: { candidate: CANDIDATE, sdpMid: '0', sdpMLineIndex: 0 } },
    }),
  );
async function waitFor(check: () => boolean, ms: number) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await sleep(20);
}
async function closeAll(peers: Peer[]) {
  await Promise.all(
    peers.map((p) => new Promise<void>((r) => (p.ws.once('close', () => r()), p.ws.close(1000)))),
  );
}

/** Part 1: Redis commands per join, per relayed signal, per leave, with the commands that make them up. */
async function perOperation(side: RedisSide) {
  const primaries = await side.primaries();
  const inst = await startInstances(side, 2, 600_000);
  const PAIRS = quick ? 20 : 40;
  const SIGNALS = quick ? 10 : 25;
  const snap = () => Promise.all(primaries.map(stats));
  const total = (a: Stats[], b: Stats[]) => {
    const calls: Record<string, number> = {};
    let sum = 0;
    a.forEach((s, i) => {
      const d = diff(s, b[i]!);
      sum += d.total;
      for (const [c, n] of Object.entries(d.calls)) calls[c] = (calls[c] ?? 0) + n;
    });
    return { calls, sum };
  };
  const per = (t: { calls: Record<string, number>; sum: number }, n: number) => ({
    total: round(t.sum / n, 2),
    commands: Object.fromEntries(
      Object.entries(t.calls)
        .map(([c, v]) => [c, round(v / n, 2)] as const)
        .filter(([, v]) => v >= 0.05)
        .sort((x, y) => y[1] - x[1]),
    ),
  });
  const peers: Array<[Peer, Peer]> = [];
  let s0 = await snap();
  for (let i = 0; i < PAIRS; i++) {
    const room = `ops-${i}`;
    peers.push([
      await connect(inst.list[0]!.port, `a${i}`, room),
      await connect(inst.list[1]!.port, `b${i}`, room),
    ]);
  }
  await sleep(300);
  let s1 = await snap();
  const join = per(total(s0, s1), PAIRS * 2);
  s0 = await snap();
  for (const [a, b] of peers) for (let k = 0; k < SIGNALS; k++) signal(a, b);
  await waitFor(() => peers.every(([, b]) => b.received >= SIGNALS), 20_000);
  await sleep(200);
  s1 = await snap();
  const sig = per(total(s0, s1), PAIRS * SIGNALS);
  s0 = await snap();
  await closeAll(peers.flat());
  await sleep(500);
  s1 = await snap();
  const leave = per(total(s0, s1), PAIRS * 2);
  await inst.stop();
  return { redis: side.name, perJoin: join, perSignal: sig, perLeave: leave };
}

/** Part 2: rooms of 2–16 over `instances` instances, bounded load; per-instance and per-primary figures. */
async function scaledRun(side: RedisSide | null, instances: number) {
  const primaries = side ? await side.primaries() : [];
  const inst = await startInstances(side, instances, 15_000);
  const rooms: Peer[][] = [];
  const cycles = quick ? 1 : 2;
  for (let c = 0; c < cycles; c++)
    for (const [r, size] of ROOM_SIZES.entries()) {
      const room = `load-${c}-${r}`;
      const members: Peer[] = [];
      for (let j = 0; j < size; j++)
        members.push(await connect(inst.list[(r + j) % instances]!.port, `u${c}-${r}-${j}`, room));
      rooms.push(members);
    }
  const peers = rooms.flat();
  await sleep(500);
  const received = () => peers.reduce((n, p) => n + p.received, 0);
  /** One bounded load phase at `rate`: every 10 ms, a random peer signals a random other member of its room. */
  const phase = async (rate: number) => {
    const before = received();
    const cpu0 = inst.list.map((o) => cpuSeconds(o.proc.child.pid!));
    const r0 = await Promise.all(primaries.map(stats));
    const t0 = performance.now();
    let sent = 0;
    let due = 0;
    while (performance.now() - t0 < LOAD_SECONDS * 1000) {
      due += rate / 100;
      for (; due >= 1; due--) {
        const members = rooms[Math.floor(Math.random() * rooms.length)]!;
        const from = members[Math.floor(Math.random() * members.length)]!;
        let to = from;
        while (to === from) to = members[Math.floor(Math.random() * members.length)]!;
        signal(from, to);
        sent++;
      }
      await sleep(10);
    }
    await waitFor(() => received() - before >= sent, 5000);
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = inst.list.map((o, i) => cpuSeconds(o.proc.child.pid!) - cpu0[i]!);
    const r1 = await Promise.all(primaries.map(stats));
    const delivered = received() - before;
    const perPrimary = primaries.map((port, i) => {
      const d = diff(r0[i]!, r1[i]!);
      return { port, ops: d.total, cpu: d.cpu };
    });
    return { rate, elapsed, sent, delivered, cpu, perPrimary };
  };
  const low = await phase(OFFERED_PER_S / 4);
  const high = await phase(OFFERED_PER_S);
  await closeAll(peers);
  await inst.stop();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const dMsgs = high.delivered - low.delivered;
  const dSignalingCpu = sum(high.cpu) - sum(low.cpu);
  const dRedisCpu = sum(high.perPrimary.map((p) => p.cpu)) - sum(low.perPrimary.map((p) => p.cpu));
  const dRedisOps = sum(high.perPrimary.map((p) => p.ops)) - sum(low.perPrimary.map((p) => p.ops));
  return {
    redis: side?.name ?? 'none (in-memory bus)',
    instances,
    peers: peers.length,
    rooms: rooms.length,
    seconds: round(high.elapsed, 1),
    sentAtHighRate: high.sent,
    deliveredPerS: round(high.delivered / high.elapsed, 0),
    lostAtHighRate: high.sent - high.delivered,
    signalingCpuPercent: high.cpu.map((c) => round((c / high.elapsed) * 100, 1)),
    /** Marginal: extra messages delivered per extra second of signaling CPU (all instances) from low to high. */
    messagesPerSignalingCoreSecond: dSignalingCpu > 0 ? round(dMsgs / dSignalingCpu, 0) : null,
    redisPerPrimary: high.perPrimary.map((p) => ({
      port: p.port,
      opsPerS: round(p.ops / high.elapsed, 0),
      cpuPercent: round((p.cpu / high.elapsed) * 100, 1),
    })),
    redisOpsPerMessage: side ? round(dRedisOps / dMsgs, 2) : 0,
    /** Marginal, as for signaling: extra messages per extra second of Redis CPU (all primaries). */
    messagesPerRedisCoreSecond: side && dRedisCpu > 0 ? round(dMsgs / dRedisCpu, 0) : null,
  };
}

async function main() {
  const single = (await startRedis())!;
  const singleSide: RedisSide = {
    name: 'single Redis',
    env: { REDIS_URL: single.url },
    primaries: () => Promise.resolve([single.port]),
    stop: () => single.stop(),
  };
  const cluster = (await startRedisCluster())!;
  const clusterSide: RedisSide = {
    name: 'cluster (3 primaries)',
    env: { REDIS_CLUSTER_NODES: cluster.seeds },
    primaries: async () =>
      (await cluster.topology())
        .filter((n) => n.role === 'primary' && !n.flags.includes('fail'))
        .map((n) => n.port),
    stop: () => cluster.stop(),
  };
  const results: Record<string, unknown> = { quick, offeredPerS: OFFERED_PER_S, loadSeconds: LOAD_SECONDS };
  try {
    const ops = [];
    for (const side of [singleSide, clusterSide, singleSide, clusterSide].slice(
      0,
      scaledOnly ? 0 : quick ? 2 : 4,
    )) {
      const r = await perOperation(side);
      ops.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    results.perOperation = ops;
    const runs = [];
    for (const [side, n] of [
      [null, 1],
      [clusterSide, 3],
      [null, 1],
      [clusterSide, 3],
    ] as const) {
      if (quick && runs.length >= 2) break;
      const r = await scaledRun(side, n);
      runs.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    results.scaled = runs;
  } finally {
    await singleSide.stop();
    await clusterSide.stop();
  }
  const out = fileURLToPath(new URL('./results/scaling.json', import.meta.url));
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written ${out}\n`);
}

await main();
