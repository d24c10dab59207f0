/**
 * Figure: signaling relay. (1) Throughput: pairs of peers send candidate-sized signals as fast as a window of
 * unanswered messages allows; messages delivered per second. (2) Latency at a fixed offered rate (5 000/s):
 * p50 and p99 from send to delivery (sender and receiver share this process's clock).
 */
import { cpuSeconds, startTarget, type BenchClient, type Target } from './targets.js';
import { pacedLoad } from './paced-load.js';
import { percentile, round } from './stats.js';

const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.7 54400 typ srflx raddr 10.0.0.2 rport 54400 generation 0 ufrag Xy7q network-cost 999';

async function pairs(
  target: Target,
  count: number,
  room: string,
): Promise<Array<[BenchClient, BenchClient]>> {
  const out: Array<[BenchClient, BenchClient]> = [];
  for (let i = 0; i < count; i++) {
    out.push([await target.connect(`s${i}-${room}`, room), await target.connect(`r${i}-${room}`, room)]);
  }
  return out;
}

export interface ThroughputResult {
  messagesPerSecond: number;
  serverCpuPercent: number;
}

export async function throughput(
  target: Target,
  seconds: number,
  pairCount = 4,
  window = 200,
): Promise<ThroughputResult> {
  const ps = await pairs(target, pairCount, `tp${Date.now()}`);
  let received = 0;
  let running = true;
  const cpu0 = cpuSeconds(target.pid);
  const t0 = performance.now();
  const done = ps.map(
    ([s, r]) =>
      new Promise<void>((resolve) => {
        let sent = 0;
        let got = 0;
        const pump = () => {
          while (running && sent - got < window) {
            s.signal(r.id, CANDIDATE);
            sent++;
          }
        };
        r.ws.on('message', () => {
          got++;
          received++;
          if (running) pump();
          else if (got === sent) resolve();
        });
        pump();
        setTimeout(() => {
          running = false;
          setTimeout(resolve, 2000); // stragglers; bounded
        }, seconds * 1000);
      }),
  );
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const countAtEnd = received;
  const cpu = cpuSeconds(target.pid) - cpu0;
  running = false;
  await Promise.all(done);
  for (const [s, r] of ps) {
    s.ws.terminate();
    r.ws.terminate();
  }
  return {
    messagesPerSecond: round(countAtEnd / elapsed, 0),
    serverCpuPercent: round((cpu / elapsed) * 100, 0),
  };
}

export interface LatencyResult {
  rate: number;
  p50ms: number;
  p99ms: number;
  delivered: number;
  sent: number;
}

export async function latency(
  target: Target,
  seconds: number,
  rate = 5000,
  pairCount = 5,
): Promise<LatencyResult> {
  const ps = await pairs(target, pairCount, `lat${Date.now()}`);
  const samples: number[] = [];
  for (const [, r] of ps) {
    r.ws.on('message', (d: Buffer) => {
      const text = d.toString('utf8');
      const at = text.lastIndexOf(' t=');
      if (at > 0) samples.push(performance.now() - Number(text.slice(at + 3, text.indexOf('"', at))));
    });
  }
  const sent = await pacedLoad(ps, rate, seconds, (s, r) =>
    s.signal(r.id, `${CANDIDATE} t=${performance.now()}`),
  );
  await new Promise((r) => setTimeout(r, 500));
  for (const [s, r] of ps) {
    s.ws.terminate();
    r.ws.terminate();
  }
  return {
    rate,
    p50ms: round(percentile(samples, 50), 3),
    p99ms: round(percentile(samples, 99), 3),
    delivered: samples.length,
    sent,
  };
}

export async function fanOut(
  target: Target,
  members = 20,
  repeats = 20,
): Promise<{ lastReceiverMsMedian: number }> {
  const room = `fan${Date.now()}`;
  const clients: BenchClient[] = [];
  for (let i = 0; i < members; i++) clients.push(await target.connect(`f${i}`, room));
  const [sender, ...rest] = clients as [BenchClient, ...BenchClient[]];
  const results: number[] = [];
  for (let k = 0; k < repeats; k++) {
    const t0 = performance.now();
    const all = rest.map(
      (c) => new Promise<number>((resolve) => c.ws.once('message', () => resolve(performance.now() - t0))),
    );
    // One signal to every member: what a room-wide announcement costs (ours: signal per member, as the SDK does).
    for (const c of rest) sender.signal(c.id, CANDIDATE);
    results.push(Math.max(...(await Promise.all(all))));
  }
  for (const c of clients) c.ws.terminate();
  results.sort((a, b) => a - b);
  return { lastReceiverMsMedian: round(results[Math.floor(results.length / 2)]!, 3) };
}

export async function connections(
  target: Target,
  count: number,
): Promise<{ bytesPerConnection: number; acceptsPerSecond: number }> {
  const room = `idle${Date.now()}`;
  for (let j = 0; j < count; j++) target.prepare(`idle${j}`, `${room}-${j % 500}`);
  const before = target.rssBytes();
  const clients: BenchClient[] = [];
  const t0 = performance.now();
  // 50 handshakes in flight at a time: a busy but orderly arrival of clients.
  for (let i = 0; i < count; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 50); j++)
      batch.push(target.connect(`idle${j}`, `${room}-${j % 500}`));
    clients.push(...(await Promise.all(batch)));
  }
  const seconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const after = target.rssBytes();
  for (const c of clients) c.ws.terminate();
  return {
    bytesPerConnection: round((after - before) / count, 0),
    acceptsPerSecond: round(count / seconds, 0),
  };
}

export { startTarget };
