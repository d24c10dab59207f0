/**
 * Figure: relay across two instances of a scaled-out deployment, through one real redis-server. A client on
 * instance A sends candidate-sized signals to a client on instance B: ours (two signaling servers on the
 * Redis room bus, both clients joined to one room, the signal addressed to B's peer id) beside socket.io
 * with its Redis adapter (two socket.io servers, the event emitted to B's socket id with `io.to(id)`, which
 * the adapter publishes to every instance). Both are a direct message to one peer on another instance.
 * The loads are those of bench/signaling-relay.ts: throughput with a window of unanswered messages per
 * pair, and latency at a fixed offered rate; plus the CPU both instances spend per 1000 messages (Redis's
 * own CPU is left out of both). Clients parse each frame as a real client would (ours: JSON; socket.io:
 * socket.io-client), in this process, on the same two cores as the servers.
 */
import { randomBytes } from 'node:crypto';
import { io as connectSocketIo, type Socket } from 'socket.io-client';
import { startRedis } from '../test-support/redis.js';
import { pacedLoad } from './paced-load.js';
import { percentile, round } from './stats.js';
import { boot, cpuSeconds, startTarget, type BenchClient } from './targets.js';

export const SOCKETIO_REFERENCE_NAME = 'socket.io 4.8.4 + @socket.io/redis-adapter 8.3.0';

const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 10.0.0.2 rport 54400 generation 0 ufrag Xy7q network-cost 999';

/** One client of a cluster, whichever server it talks to. */
export interface ClusterClient {
  id: string;
  /** Send a candidate-shaped signal to the peer `to`. */
  send(to: string, candidate: string): void;
  /** Called with the candidate string of every signal this client receives. */
  onSignal(listener: (candidate: string) => void): void;
  /** What went wrong on this client so far (error frames, closes by the server), for the bench's notes. */
  problems: string[];
  close(): void;
}

export interface Cluster {
  kind: 'ours' | 'socketio';
  /** The two server processes (for CPU). */
  pids: [number, number];
  /** A sender connected to instance A and a receiver connected to instance B, able to reach each other. */
  pair(tag: string): Promise<[ClusterClient, ClusterClient]>;
  stop(): Promise<void>;
}

function withTimeout<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: timed out`)), ms)),
    ),
  ]).finally(() => clearTimeout(timer));
}

function oursClient(c: BenchClient): ClusterClient {
  const problems: string[] = [];
  let closing = false;
  c.ws.on('message', (d: Buffer) => {
    const msg = JSON.parse(d.toString('utf8')) as { type: string; code?: string };
    if (msg.type === 'error') problems.push(`error ${msg.code ?? '?'}`);
  });
  c.ws.on('close', (code) => closing || problems.push(`closed ${code}`));
  return {
    id: c.id,
    problems,
    send: (to, candidate) => c.signal(to, candidate),
    onSignal(listener) {
      c.ws.on('message', (d: Buffer) => {
        const msg = JSON.parse(d.toString('utf8')) as {
          type: string;
          signal?: { candidate?: { candidate?: string } };
        };
        if (msg.type === 'signal') listener(msg.signal?.candidate?.candidate ?? '');
      });
    },
    close() {
      closing = true;
      c.ws.terminate();
    },
  };
}

async function startOursCluster(redisUrl: string): Promise<Cluster> {
  // A fresh key prefix per cluster: no room or presence of an earlier run is seen.
  const run = `bench-${randomBytes(4).toString('hex')}`;
  const prefix = `${run}:`;
  const a = await startTarget('ours', [redisUrl, `${run}-a`, prefix]);
  const b = await startTarget('ours', [redisUrl, `${run}-b`, prefix]).catch(async (err: unknown) => {
    await a.stop();
    throw err;
  });
  return {
    kind: 'ours',
    pids: [a.pid, b.pid],
    async pair(tag) {
      const room = `x${tag}`;
      const sender = await a.connect(`s${tag}`, room);
      // The sender's instance learns of the receiver through the bus; signal only once it has.
      const joined = new Set<string>();
      let wake = () => {};
      sender.ws.on('message', (d: Buffer) => {
        const msg = JSON.parse(d.toString('utf8')) as { type: string; peer?: { peerId: string } };
        if (msg.type !== 'peer-joined' || !msg.peer) return;
        joined.add(msg.peer.peerId);
        wake();
      });
      const receiver = await b.connect(`r${tag}`, room);
      await withTimeout(
        'peer-joined across instances',
        new Promise<void>((resolve) => {
          wake = () => {
            if (joined.has(receiver.id)) resolve();
          };
          wake();
        }),
      );
      return [oursClient(sender), oursClient(receiver)];
    },
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

function socketIoClient(socket: Socket): ClusterClient {
  const problems: string[] = [];
  socket.on(
    'disconnect',
    (reason) => reason === 'io client disconnect' || problems.push(`disconnect ${reason}`),
  );
  return {
    id: socket.id!,
    problems,
    send: (to, candidate) =>
      socket.emit('signal', {
        to,
        signal: { type: 'candidate', candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } },
      }),
    onSignal(listener) {
      socket.on('signal', (msg: { signal?: { candidate?: { candidate?: string } } }) =>
        listener(msg.signal?.candidate?.candidate ?? ''),
      );
    },
    close: () => void socket.disconnect(),
  };
}

async function startSocketIoCluster(redisUrl: string): Promise<Cluster> {
  const key = `bench-${randomBytes(4).toString('hex')}`;
  const servers = [];
  try {
    for (let i = 0; i < 2; i++)
      servers.push(await boot('bench/servers/socketio-redis-server.ts', [redisUrl, key]));
  } catch (err) {
    for (const s of servers) s.proc.kill('SIGKILL');
    throw err;
  }
  const [a, b] = servers as [(typeof servers)[0], (typeof servers)[0]];
  const connect = async (port: number) => {
    const socket = connectSocketIo(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    await withTimeout(
      'socket.io connect',
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }),
    );
    return socketIoClient(socket);
  };
  return {
    kind: 'socketio',
    pids: [a.proc.child.pid!, b.proc.child.pid!],
    async pair() {
      return [await connect(a.port), await connect(b.port)];
    },
    async stop() {
      for (const { proc } of [a, b]) proc.kill('SIGTERM');
      await Promise.all([a.proc.exited, b.proc.exited]);
    },
  };
}

export function startCluster(kind: Cluster['kind'], redisUrl: string): Promise<Cluster> {
  return kind === 'ours' ? startOursCluster(redisUrl) : startSocketIoCluster(redisUrl);
}

async function pairs(cluster: Cluster, count: number): Promise<Array<[ClusterClient, ClusterClient]>> {
  const out: Array<[ClusterClient, ClusterClient]> = [];
  const run = randomBytes(3).toString('hex');
  for (let i = 0; i < count; i++) out.push(await cluster.pair(`${run}${i}`));
  return out;
}

const instancesCpu = (cluster: Cluster) => cpuSeconds(cluster.pids[0]) + cpuSeconds(cluster.pids[1]);

export interface CrossThroughput {
  messagesPerSecond: number;
  /** CPU (user + system) of both instances per 1000 messages delivered. */
  cpuMsPer1000: number;
  /** Error frames and server closes the clients saw. */
  problems: string[];
}

/** Pairs send as fast as `window` unanswered messages per pair allow, for `seconds`. */
export async function crossThroughput(
  cluster: Cluster,
  seconds: number,
  pairCount = 4,
  window = 200,
): Promise<CrossThroughput> {
  const ps = await pairs(cluster, pairCount);
  let received = 0;
  let running = true;
  const cpu0 = instancesCpu(cluster);
  const t0 = performance.now();
  for (const [s, r] of ps) {
    let sent = 0;
    let got = 0;
    const pump = () => {
      while (running && sent - got < window) {
        s.send(r.id, CANDIDATE);
        sent++;
      }
    };
    r.onSignal(() => {
      got++;
      received++;
      pump();
    });
    pump();
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const count = received;
  const cpu = instancesCpu(cluster) - cpu0;
  running = false;
  await new Promise((r) => setTimeout(r, 500)); // stragglers drain before the sockets close
  const problems = ps.flat().flatMap((c) => c.problems);
  for (const c of ps.flat()) c.close();
  return {
    messagesPerSecond: round(count / elapsed, 0),
    cpuMsPer1000: count === 0 ? NaN : round((cpu * 1000 * 1000) / count, 1),
    problems,
  };
}

export interface CrossLatency {
  p50ms: number;
  p99ms: number;
  delivered: number;
  sent: number;
  /** Error frames and server closes the clients saw. */
  problems: string[];
}

/** `rate` messages per second spread over `pairCount` pairs in 10 ms ticks, send to delivery. */
export async function crossLatency(
  cluster: Cluster,
  seconds: number,
  rate: number,
  pairCount = 5,
): Promise<CrossLatency> {
  const ps = await pairs(cluster, pairCount);
  const samples: number[] = [];
  for (const [, r] of ps) {
    r.onSignal((candidate) => {
      const at = candidate.lastIndexOf(' t=');
      if (at > 0) samples.push(performance.now() - Number(candidate.slice(at + 3)));
    });
  }
  const sent = await pacedLoad(ps, rate, seconds, (s, r) =>
    s.send(r.id, `${CANDIDATE} t=${performance.now()}`),
  );
  await new Promise((r) => setTimeout(r, 500));
  const problems = ps.flat().flatMap((c) => c.problems);
  for (const c of ps.flat()) c.close();
  return {
    p50ms: round(percentile(samples, 50), 3),
    p99ms: round(percentile(samples, 99), 3),
    delivered: samples.length,
    sent,
    problems,
  };
}

/** The offered rate of the cross-instance latency figure, in messages per second. */
export const CROSS_LATENCY_RATE = 2000;

type Recorder = (
  meta: { figure: string; unit: string; better: 'higher' | 'lower'; referenceName: string },
  ours: number[],
  reference: number[],
) => void;

/**
 * The cross-instance rows of `npm run bench`: one redis-server for the section, a fresh pair of instances
 * of each kind per run, ours and socket.io alternating `repeats` times; rows recorded through `record`.
 */
export async function crossInstanceFigures(opts: {
  repeats: number;
  seconds: number;
  record: Recorder;
  note: (line: string) => void;
}): Promise<void> {
  const redis = await startRedis();
  if (!redis) {
    opts.note('cross-instance figures skipped: redis-server is not installed');
    return;
  }
  const runs = {
    ours: [] as Array<CrossThroughput & CrossLatency>,
    socketio: [] as Array<CrossThroughput & CrossLatency>,
  };
  try {
    for (let i = 0; i < opts.repeats; i++) {
      for (const kind of ['ours', 'socketio'] as const) {
        const cluster = await startCluster(kind, redis.url);
        try {
          const t = await crossThroughput(cluster, opts.seconds);
          const l = await crossLatency(cluster, opts.seconds, CROSS_LATENCY_RATE);
          runs[kind].push({ ...t, ...l, problems: [...t.problems, ...l.problems] });
        } finally {
          await cluster.stop();
        }
      }
    }
  } finally {
    await redis.stop();
  }
  const at = 'across 2 instances via redis-server';
  const figures = [
    { key: 'messagesPerSecond', figure: `${at}: relay throughput`, unit: 'msg/s', better: 'higher' },
    {
      key: 'cpuMsPer1000',
      figure: `${at}: CPU of both instances per 1000 messages`,
      unit: 'ms',
      better: 'lower',
    },
    { key: 'p50ms', figure: `${at}: p50 latency @${CROSS_LATENCY_RATE} msg/s`, unit: 'ms', better: 'lower' },
    { key: 'p99ms', figure: `${at}: p99 latency @${CROSS_LATENCY_RATE} msg/s`, unit: 'ms', better: 'lower' },
  ] as const;
  for (const { key, ...meta } of figures) {
    opts.record(
      { ...meta, referenceName: SOCKETIO_REFERENCE_NAME },
      runs.ours.map((r) => r[key]),
      runs.socketio.map((r) => r[key]),
    );
  }
  const lost = (rs: CrossLatency[]) => rs.map((r) => r.sent - r.delivered).join(', ');
  const problems = (rs: CrossLatency[]) => {
    const all = rs.flatMap((r) => r.problems);
    const counts = new Map<string, number>();
    for (const p of all) counts.set(p, (counts.get(p) ?? 0) + 1);
    return all.length ? [...counts].map(([p, n]) => `${n}× ${p}`).join(', ') : 'none';
  };
  opts.note(
    `${at}, latency runs: messages not delivered within 0.5 s after the load, ours ${lost(runs.ours)}; ` +
      `socket.io ${lost(runs.socketio)}; errors and server closes seen by clients: ours ${problems(runs.ours)}; ` +
      `socket.io ${problems(runs.socketio)}`,
  );
}
