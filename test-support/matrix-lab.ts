/**
 * The network matrix's servers and peers (sdk/network-matrix.e2e.test.ts): signaling and relays started
 * in the lab's public namespace, Node SDK peers in client namespaces driven over IPC (Chromium peers in
 * matrix-browser-peer.ts answer the same commands), and the checks every case makes: both sides on a
 * P2P path, the path matching the selected candidate pair, every numbered message once and in order.
 */
import { expect } from 'vitest';
import { mintDevToken } from '../signaling/auth/token-verifier.js';
import type { ConnectOptions } from '../sdk/connect.js';
import { PUBLIC_PEERS, SERVER_IP, type NetLab, type NsProcess } from './netns.js';
import type { PeerCommand, PeerReport } from './matrix-peer.js';
import { SIGNALING_STARTED } from './processes.js';

export const JWT_SECRET = 'matrix-jwt-secret-matrix-jwt-secret-0123456789';
export const TURN_SECRET = 'matrix-turn-secret';
export const SIGNALING_PORT = 8080;
export const ROOM = 'matrix';
/** Reliable messages from each side: one per 50 ms (the WebSocket path's rate budget), at most 1 200. */
export const PUMP = { everyMs: 50, max: 1_200 };

// ---- servers in the public namespace ----

export const RELAY_A = { port: 3478, tlsPort: 5349, minPort: 50_000, maxPort: 50_999, metricsPort: 9641 };
export const RELAY_B = { port: 3479, tlsPort: 5350, minPort: 51_000, maxPort: 51_999, metricsPort: 9642 };
export type RelaySpec = typeof RELAY_A;

export const baseEnv = {
  NODE_ENV: 'development',
  LOG_LEVEL: 'warn',
  JWT_SECRET,
  TURN_SECRETS: TURN_SECRET,
  TURN_ALLOWED_PEER_IPS: PUBLIC_PEERS,
};

export function startSignaling(lab: NetLab, env: Record<string, string>): Promise<NsProcess> {
  const p = lab.spawnNode(lab.pub, 'signaling/main.ts', [], {
    ...baseEnv,
    PORT: String(SIGNALING_PORT),
    HOST: '0.0.0.0',
    TURN_PORT: String(RELAY_A.port),
    TURN_TLS_PORT: String(RELAY_A.tlsPort),
    TURN_MIN_PORT: String(RELAY_A.minPort),
    TURN_MAX_PORT: String(RELAY_A.maxPort),
    // Info: the line that says signaling listens is an info line.
    LOG_LEVEL: 'info',
    ...env,
  });
  return p.waitFor(SIGNALING_STARTED).then(() => p);
}

export async function startRelay(lab: NetLab, r: RelaySpec): Promise<NsProcess> {
  const p = lab.spawnNode(lab.pub, 'turn/main.ts', [], {
    ...baseEnv,
    TURN_PORT: String(r.port),
    TURN_TLS_PORT: String(r.tlsPort),
    TURN_MIN_PORT: String(r.minPort),
    TURN_MAX_PORT: String(r.maxPort),
    TURN_METRICS_PORT: String(r.metricsPort),
  });
  await p.waitFor(/relay started/);
  return p;
}

export const udpUrl = (r: RelaySpec) => `turn:${SERVER_IP}:${r.port}?transport=udp`;

export const SIGNALING_METRICS = `http://${SERVER_IP}:${SIGNALING_PORT}/metrics`;
export const relayMetrics = (r: RelaySpec) => `http://${SERVER_IP}:${r.metricsPort}/metrics`;

/** Packets the relay says it relayed (its /metrics), from inside the public namespace. */
export function relayedPackets(lab: NetLab, metricsUrl: string): number {
  const text = lab.fetchText(metricsUrl);
  let n = 0;
  for (const m of text.matchAll(/^turn_relayed_packets_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

// ---- peers in client namespaces ----

export type Command = PeerCommand extends infer C ? (C extends PeerCommand ? Omit<C, 'id'> : never) : never;

/** A Node peer (child process) or a Chromium peer (page): the same commands and report. */
export interface MatrixPeer {
  readonly label: string;
  peerId: string;
  joinedAt: number;
  request<T>(cmd: Command): Promise<T>;
  report(): Promise<PeerReport>;
}

export class Peer implements MatrixPeer {
  private seq = 0;
  private readonly waiting = new Map<
    number,
    (r: { ok: boolean; result?: unknown; error?: string }) => void
  >();
  peerId = '';
  joinedAt = 0;

  constructor(
    readonly label: string,
    readonly proc: NsProcess,
  ) {
    proc.child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string }) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  request<T>(cmd: Command, timeoutMs = 30_000): Promise<T> {
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.label}: no answer to ${cmd.cmd}\n${this.proc.output().slice(-3000)}`));
      }, timeoutMs);
      const settle = (r: { ok: boolean; result?: unknown; error?: string }) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (r.ok) resolve(r.result as T);
        else
          reject(
            new Error(`${this.label}: ${cmd.cmd} failed: ${r.error}\n${this.proc.output().slice(-3000)}`),
          );
      };
      this.waiting.set(id, settle);
      // A peer process that died (a crash in native WebRTC, say) fails the request, not the run.
      if (!this.proc.child.connected) return settle({ ok: false, error: 'peer process is gone' });
      this.proc.child.send({ ...cmd, id }, (err) => err && settle({ ok: false, error: String(err) }));
    });
  }

  report(): Promise<PeerReport> {
    return this.request<PeerReport>({ cmd: 'report' });
  }
}

export async function startPeer(lab: NetLab, ns: string, label: string): Promise<Peer> {
  const proc = lab.spawnNode(ns, 'test-support/matrix-peer.ts', [], {}, true);
  await proc.waitFor(/matrix-peer ready/);
  return new Peer(label, proc);
}

const token = (user: string) =>
  mintDevToken({
    secret: JWT_SECRET,
    userId: user,
    rooms: [ROOM],
    audience: 'relay-platform',
    issuer: 'relay-platform',
    ttlSec: 600,
  });

/** SDK timings for the matrix: quick retries, generous for two busy cores. */
export const PEER_OPTIONS: Partial<ConnectOptions> = {
  p2pConnectTimeoutMs: 5_000,
  iceRetryIntervalMs: 3_000,
  statsIntervalMs: 250,
  ackDelayMs: 20,
  retransmitMs: 1_000,
  pingIntervalMs: 2_000,
  pongTimeoutMs: 3_000,
};

export async function join(
  p: MatrixPeer,
  extra: { options?: Partial<ConnectOptions>; clockSkewMs?: number } = {},
) {
  const r = await p.request<{ peerId: string; joinedAt: number }>({
    cmd: 'join',
    url: `ws://${SERVER_IP}:${SIGNALING_PORT}/v1/ws`,
    token: token(p.label),
    room: ROOM,
    label: p.label,
    options: { ...PEER_OPTIONS, ...extra.options },
    ...(extra.clockSkewMs ? { clockSkewMs: extra.clockSkewMs } : {}),
  });
  p.peerId = r.peerId;
  p.joinedAt = r.joinedAt;
}

/** Poll the peer's report until `check` holds (bounded); returns the last report. */
export async function until(
  p: MatrixPeer,
  check: (r: PeerReport) => boolean,
  timeoutMs = 30_000,
): Promise<PeerReport> {
  const end = Date.now() + timeoutMs;
  let r = await p.report();
  while (!check(r)) {
    if (Date.now() > end)
      throw new Error(
        `${p.label}: condition not met in ${timeoutMs} ms; events ${JSON.stringify(r.events.slice(-30))}`,
      );
    await new Promise((res) => setTimeout(res, 150));
    r = await p.report();
  }
  return r;
}

export const isP2p = (path: string | undefined) => path === 'direct' || path === 'relay';
export const onlyPair = (r: PeerReport) => r.pairs[0];
export const eventAt = (r: PeerReport, event: string, match: (d: string) => boolean) =>
  r.events.find((e) => e.event === event && match(e.detail))?.at ?? null;

export interface Pair {
  lab: NetLab;
  a: MatrixPeer;
  b: MatrixPeer;
}

export async function joinBoth(
  lab: NetLab,
  nsA: string,
  nsB: string,
  extra: { options?: Partial<ConnectOptions>; clockSkewMs?: number } = {},
): Promise<Pair> {
  const [a, b] = await Promise.all([startPeer(lab, nsA, 'alice'), startPeer(lab, nsB, 'bob')]);
  await join(a, extra);
  await join(b, extra);
  await Promise.all([a.request({ cmd: 'pump', ...PUMP }), b.request({ cmd: 'pump', ...PUMP })]);
  return { lab, a, b };
}

/** Wait for both sides to report a P2P path; returns when the later one did, ms after the later join. */
export async function bothP2p(pair: Pair, timeoutMs = 30_000): Promise<number> {
  const ra = await until(pair.a, (r) => isP2p(onlyPair(r)?.path), timeoutMs);
  const rb = await until(pair.b, (r) => isP2p(onlyPair(r)?.path), timeoutMs);
  const start = Math.max(pair.a.joinedAt, pair.b.joinedAt);
  const at = Math.max(
    eventAt(ra, 'path', (d) => isP2p(d)) ?? Date.now(),
    eventAt(rb, 'path', (d) => isP2p(d)) ?? Date.now(),
  );
  return at - start;
}

/** Stop both pumps, wait until everything sent arrived, and check it arrived once, in order. */
export async function finish(
  pair: Pair,
): Promise<{ ra: PeerReport; rb: PeerReport; lost: number; gap: number; first: number }> {
  const [sa, sb] = await Promise.all([
    pair.a.request<{ sent: number }>({ cmd: 'stop-pump' }),
    pair.b.request<{ sent: number }>({ cmd: 'stop-pump' }),
  ]);
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  const settled = (r: PeerReport, from: string, n: number) => (r.received[from]?.seqs.length ?? 0) >= n;
  const rb = await until(pair.b, (r) => settled(r, 'alice', sa.sent), 30_000).catch(() => pair.b.report());
  const ra = await until(pair.a, (r) => settled(r, 'bob', sb.sent), 30_000).catch(() => pair.a.report());
  const gotB = rb.received.alice?.seqs ?? [];
  const gotA = ra.received.bob?.seqs ?? [];
  // Exactly once and in order, both ways.
  expect(gotB).toEqual(all(sa.sent));
  expect(gotA).toEqual(all(sb.sent));
  expect(sa.sent).toBeGreaterThan(20);
  expect(sb.sent).toBeGreaterThan(20);
  const lost = sa.sent - new Set(gotB).size + (sb.sent - new Set(gotA).size);
  const start = Math.max(pair.a.joinedAt, pair.b.joinedAt);
  const first = Math.max(
    (rb.received.alice?.firstAt ?? Infinity) - start,
    (ra.received.bob?.firstAt ?? Infinity) - start,
  );
  const gap = Math.max(rb.received.alice?.longestGapMs ?? 0, ra.received.bob?.longestGapMs ?? 0);
  return { ra, rb, lost, gap, first };
}

/** The path each side reports is the one its selected candidate pair takes. */
export function expectPathMatchesPair(r: PeerReport, path: 'direct' | 'relay'): void {
  const p = onlyPair(r)!;
  expect(p.path).toBe(path);
  const relayed = p.local?.candidateType === 'relay' || p.remote?.candidateType === 'relay';
  expect(relayed).toBe(path === 'relay');
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function lastPid(proc: NsProcess, name: string): number {
  const all = [...proc.output().matchAll(new RegExp(`${name} running \\(pid (\\d+)\\)`, 'g'))];
  return Number(all.at(-1)?.[1]);
}
