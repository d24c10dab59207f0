/**
 * A drain at scale: an instance holding thousands of real SDK clients (`SignalingClient`) is stopped with
 * SIGTERM behind the shipped nginx config, and its clients move to the two other instances on one real
 * Redis. The drain gives each client its own `afterMs` (DRAIN_SPREAD_MS, at most connections / rate), so
 * they arrive at the others under their admission rate instead of all within the SDK's first 300 ms.
 * Shown: every client back, resumed with its peer id and reachable in its room; none gave up; each
 * survivor's accept rate (its own `signaling_admissions_total`) within its limit; and the signal latency
 * of clients that stayed on the survivors during the move. The time until all are back is printed, never
 * asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type RunningNginx } from '../../test-support/nginx.js';
import { freeTcpPort } from '../../test-support/processes.js';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { openLoadClient, percentile, type LoadClient } from '../../test-support/sdk-signaling-load.js';
import { procToken, startSignalingProc, type SignalingProc } from '../../test-support/signaling-procs.js';
import { hasTool } from '../../test-support/tools.js';

const available = hasTool('redis-server') && hasTool('nginx');
/** Clients behind nginx in rooms of ROOM (about a third on the instance that drains); pairs that stay. */
const CLIENTS = 3_600;
const ROOM = 4;
const STAYING_PAIRS = 100;
/** The survivors' admission limit, per second and at once (the same on every instance, as deployed). */
const RATE = 600;
const BURST = 600;

let redis: RedisServer;
let nginx: RunningNginx;
const instances: SignalingProc[] = [];
const clients: LoadClient[] = [];

beforeAll(async () => {
  if (!available) return;
  redis = (await startRedis())!;
}, 30_000);
afterAll(async () => {
  for (const c of clients) c.client.close();
  await Promise.all(instances.map((i) => i.stop()));
  await nginx?.stop();
  await redis?.stop();
}, 90_000);

async function connectAll(url: string, users: Array<{ user: string; room: string }>): Promise<LoadClient[]> {
  const out: LoadClient[] = [];
  for (let i = 0; i < users.length; i += 200) {
    const batch = users.slice(i, i + 200);
    out.push(
      ...(await Promise.all(
        batch.map((u) => openLoadClient(url, procToken(u.user, [u.room]), u.user, u.room)),
      )),
    );
  }
  clients.push(...out);
  return out;
}

describe.skipIf(!available)('draining an instance of thousands into two others', () => {
  it('every client comes back in its room, under each survivor’s accept limit', async () => {
    const ports = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'storm:',
      TRUST_PROXY: 'true',
      MAX_CONNECTIONS_PER_IP: '100000',
      ROOM_SIZE_MAX: String(ROOM),
      ADMISSION_RATE_PER_S: String(RATE),
      ADMISSION_BURST: String(BURST),
      DRAIN_TIMEOUT_MS: '40000',
      RESUME_WINDOW_MS: '60000',
      // The Redis bus refreshes its members' liveness and then sweeps every room it serves, one room after
      // another, every third of this TTL; with thousands of members on a loaded machine a pass outlasts the
      // 15 s default, the liveness of live members lapses, and another instance's sweep suspends their
      // seats under them (signals then wait in a mailbox that the live connection never drains). That is
      // the bus's own scaling problem (reported with issue 14), not the drain's: give it room here.
      PRESENCE_TTL_MS: '60000',
    };
    const began = performance.now();
    const stage = (what: string) =>
      console.log(`${((performance.now() - began) / 1000).toFixed(1)} s: ${what}`);
    const [a, b, c] = await Promise.all(
      ['a', 'b', 'c'].map((id, i) => startSignalingProc({ ...env, NODE_ID: id }, ports[i])),
    );
    instances.push(a!, b!, c!);
    nginx = (await startNginx(ports, { workerConnections: 16_384 }))!;
    // Through the load balancer (least_conn), as deployed: a third of them land on A.
    const all = await connectAll(
      `ws://127.0.0.1:${nginx.port}/v1/ws`,
      Array.from({ length: CLIENTS }, (_, i) => ({ user: `m${i}`, room: `room-${Math.floor(i / ROOM)}` })),
    );
    stage(`${CLIENTS} clients joined through nginx`);
    // Pairs that stay: straight to B and C, signalling each other every 100 ms through the move.
    const staying = [
      ...(await connectAll(b!.wsUrl, pairs('sb', STAYING_PAIRS / 2))),
      ...(await connectAll(c!.wsUrl, pairs('sc', STAYING_PAIRS / 2))),
    ];
    const latencies: number[] = [];
    let sent = 0;
    let received = 0;
    for (const s of staying)
      s.client.on('message', (m) => {
        if (m.type !== 'signal' || m.signal.type !== 'offer' || !m.signal.sdp.startsWith('t=')) return;
        received++;
        latencies.push(performance.now() - Number(m.signal.sdp.slice(2)));
      });
    const partner = (i: number) => staying[i % 2 === 0 ? i + 1 : i - 1]!.peerId;
    const ticker = setInterval(() => {
      staying.forEach((s, i) => {
        const signal = { type: 'offer' as const, sdp: `t=${performance.now()}` };
        if (s.client.send({ type: 'signal', to: partner(i), signal })) sent++;
      });
    }, 100);

    // Each survivor's admissions, sampled through the move.
    const samples: Array<{ at: number; b: number; c: number }> = [];
    const sample = async () => {
      const at = performance.now();
      const [nb, nc] = await Promise.all(
        [b!, c!].map((x) => x.metric('signaling_admissions_total', 'result="admitted"')),
      );
      samples.push({ at, b: nb!, c: nc! });
    };
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), 250);

    const onA = await a!.metric('signaling_connections');
    stage(`draining A with ${onA} clients`);
    const t0 = performance.now();
    a!.proc.kill('SIGTERM');
    const moved = () => all.filter((m) => m.rejoins.length > 0).length;
    const deadline = Date.now() + 60_000;
    while (moved() < onA && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const allBackMs = performance.now() - t0;
    stage(`${moved()} of ${onA} back`);
    const why = new Map<string, number>();
    for (const m of all) for (const r of m.retries.slice(1)) why.set(r, (why.get(r) ?? 0) + 1);
    if (why.size > 0) console.log('retries after a failed attempt:', Object.fromEntries(why));
    await a!.proc.exited;
    clearInterval(ticker);
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(sampler);
    await sample();

    // Every client of A back, resumed with its peer id on B or C; none gave up; nobody else moved.
    expect(onA).toBeGreaterThan(CLIENTS / 6);
    const movers = all.filter((m) => m.rejoins.length > 0);
    expect(movers).toHaveLength(onA);
    expect(
      movers.filter((m) => m.rejoins[0]!.kind !== 'resumed' || m.rejoins[0]!.peerId !== m.peerId),
    ).toEqual([]);
    const notConnected = [...all, ...staying].filter(
      (m) => m.gaveUp !== null || m.client.state !== 'connected',
    );
    expect(notConnected).toHaveLength(0);
    expect((await b!.metric('signaling_connections')) + (await c!.metric('signaling_connections'))).toBe(
      CLIENTS + STAYING_PAIRS * 2,
    );
    // And each is in its room: in every room, each member reaches the next one.
    const rooms = new Map<string, LoadClient[]>();
    for (const m of all) rooms.set(m.room, [...(rooms.get(m.room) ?? []), m]);
    const reached = await Promise.all(
      [...rooms.values()].flatMap((members) =>
        members.map((x, i) => {
          const y = members[(i + 1) % members.length]!;
          return new Promise<string | null>((resolve) => {
            const errors: string[] = [];
            x.client.on(
              'message',
              (msg) => void (msg.type === 'error' && errors.push(`${msg.code}: ${msg.message}`)),
            );
            const timer = setTimeout(() => {
              const moved = (m: LoadClient) => (m.rejoins.length > 0 ? 'moved' : 'stayed');
              resolve(
                `${x.user} (${moved(x)}) -> ${y.user} (${moved(y)}): sent ${ok}, errors ${errors.join()}`,
              );
            }, 30_000);
            y.client.on('message', (msg) => {
              if (msg.type === 'signal' && msg.from === x.peerId && msg.signal.type === 'answer') {
                clearTimeout(timer);
                resolve(null);
              }
            });
            const ok = x.client.send({
              type: 'signal',
              to: y.peerId,
              signal: { type: 'answer', sdp: 'after-move' },
            });
          });
        }),
      ),
    );
    expect(reached.filter((r) => r !== null)).toEqual([]);
    stage('every member reached its neighbour');

    // Each survivor's accept rate within its limit: admissions over any span of 1 s or more at most
    // rate × span + burst (the token bucket's bound, read from the servers' own counters).
    let peak = 0;
    for (const from of samples)
      for (const to of samples) {
        const span = (to.at - from.at) / 1000;
        if (span < 1) continue;
        for (const k of ['b', 'c'] as const) {
          peak = Math.max(peak, (to[k] - from[k]) / span);
          expect(to[k] - from[k]).toBeLessThanOrEqual(RATE * span + BURST);
        }
      }
    const refused =
      (await b!.metric('signaling_admissions_total', 'result="refused"')) +
      (await c!.metric('signaling_admissions_total', 'result="refused"'));
    expect(received).toBeGreaterThan(0);
    console.log(
      `drain of ${onA} clients (of ${CLIENTS} behind nginx) into 2 instances (limit ${RATE}/s, burst ${BURST} ` +
        `each): all back in ${(allBackMs / 1000).toFixed(1)} s; peak admissions at a survivor over >=1 s: ` +
        `${peak.toFixed(0)}/s; server_busy refusals at the survivors: ${refused}; staying clients' signals: ` +
        `${received}/${sent} delivered, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ` +
        `${percentile(latencies, 99).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (shared machine)`,
    );
  }, 240_000);
});

function pairs(prefix: string, count: number): Array<{ user: string; room: string }> {
  return Array.from({ length: count * 2 }, (_, i) => ({
    user: `${prefix}${i}`,
    room: `${prefix}-${Math.floor(i / 2)}`,
  }));
}
