/**
 * 100 000 joined connections (issue 14). The per-process open-file limit decides the shape: the test reads
 * it, holds as many joined connections as one instance process can (the limit less a margin) in one
 * instance and measures that instance's memory per connection and the latency of a signal there, and holds
 * 100 000 on the machine across as many instance processes as the limit requires, the client load spread
 * over client processes (which have the same limit) opened from many loopback source addresses (one
 * address has only ~28 000 ephemeral ports), every connection joined to a room, with signal latency sampled
 * under that load. Where one process may hold 100 000, it is the real single-instance case. Figures are
 * printed, never asserted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { startScriptAtFdLimit, type Proc } from '../test-support/processes.js';
import { percentile } from '../test-support/sdk-signaling-load.js';
import { startSignalingProc, type SignalingProc } from '../test-support/signaling-procs.js';

const TARGET = 100_000;
/** File descriptors a process keeps for itself: stdio, the listener, node's own, a scrape or two. */
const MARGIN = 300;
/** Connections per loopback source address, below the ~28 000 ephemeral ports of one. */
const PER_ADDRESS = 20_000;
const ROOM_SIZE = 4;

/** The open-file limit our children can reach: the hard limit (they raise their soft limit to it). */
function fdLimit(): number {
  const out = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  return out === 'unlimited' ? 1 << 20 : Number(out);
}

const instances: SignalingProc[] = [];
const loaders: Proc[] = [];
afterAll(async () => {
  for (const l of loaders) l.child.stdin?.end('exit\n');
  await Promise.all(loaders.map((l) => l.exited));
  for (const i of instances) i.proc.kill('SIGKILL');
  await Promise.all(instances.map((i) => i.proc.exited));
}, 60_000);

/** The JSON lines a load process has printed. */
function lines(proc: Proc): Array<Record<string, unknown>> {
  return proc
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitLine(proc: Proc, key: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines(proc).find((l) => key in l);
    if (found) return found;
    const failed = lines(proc).find((l) => 'error' in l);
    if (failed) throw new Error(`load process failed: ${JSON.stringify(failed)}`);
    if (proc.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`no ${key} from the load process: ${proc.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('100 000 connections', () => {
  it('holds one process’s worth in one instance and 100 000 on the machine, all joined', async () => {
    const limit = fdLimit();
    const perProcess = Math.min(TARGET, limit - MARGIN);
    // The first instance holds a full process's worth; the rest share what is left evenly.
    const restCount = Math.ceil((TARGET - perProcess) / perProcess);
    const counts = [perProcess, ...split(TARGET - perProcess, restCount)];
    console.log(
      `open-file limit ${limit} per process: ${counts.length} instance(s) holding ${counts.join(', ')} ` +
        `(one process can hold ${perProcess} joined connections here)`,
    );
    const t0 = performance.now();
    const env = {
      // The accept limit is raised for this test: it measures holding, not admission.
      ADMISSION_RATE_PER_S: '1000000',
      ADMISSION_BURST: '1000000',
      MAX_CONNECTIONS: String(TARGET * 2),
      MAX_CONNECTIONS_PER_IP: String(TARGET * 2),
      ROOM_SIZE_MAX: String(ROOM_SIZE),
    };
    instances.push(
      ...(await Promise.all(counts.map((_, i) => startSignalingProc({ ...env, NODE_ID: `scale-${i}` })))),
    );
    // One load process per instance (each within the same limit), each from its own source addresses.
    counts.forEach((count, k) => {
      const addresses = Array.from(
        { length: Math.ceil(count / PER_ADDRESS) },
        (_, j) => `127.${1 + k}.${Math.floor(j / 250)}.${1 + (j % 250)}`,
      );
      const load = { url: instances[k]!.wsUrl, count, addresses, roomSize: ROOM_SIZE, prefix: `i${k}` };
      loaders.push(
        startScriptAtFdLimit(
          'test-support/load-client-proc.ts',
          { LOAD: JSON.stringify(load) },
          { stdin: 'pipe' },
        ),
      );
    });
    const ready = await Promise.all(loaders.map((l) => waitLine(l, 'ready', 600_000)));
    const connectSeconds = (performance.now() - t0) / 1000;

    // Every connection joined, on every instance.
    const held = await Promise.all(instances.map((i) => i.metric('signaling_connections')));
    expect(held).toEqual(counts);
    expect(ready.map((r) => r.ready)).toEqual(counts);
    const rooms = await Promise.all(instances.map((i) => i.metric('signaling_rooms')));
    expect(rooms).toEqual(counts.map((c) => Math.ceil(c / ROOM_SIZE)));

    // Memory of the instance that holds a full process's worth: its own gauge and the kernel's RSS.
    const one = instances[0]!;
    const rssPerConn = await one.metric('signaling_memory_per_connection_bytes', 'kind="rss"');
    const heapPerConn = await one.metric('signaling_memory_per_connection_bytes', 'kind="heap"');
    const vmRss =
      Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${one.proc.child.pid}/status`, 'utf8'))![1]) * 1024;
    expect(rssPerConn).toBeGreaterThan(0);

    // Signal latency under the whole load: every load process samples at once.
    for (const l of loaders) l.child.stdin!.write('sample 200\n');
    const samples = await Promise.all(loaders.map((l) => waitLine(l, 'latencies', 120_000)));
    const latencies = samples.map((s) => s.latencies as number[]);
    const all = latencies.flat();
    const lost = samples.reduce((n, s) => n + (s.lost as number), 0);
    expect(all.length).toBeGreaterThan(0);
    const mib = (b: number) => (b / 2 ** 20).toFixed(0);
    console.log(
      [
        `${TARGET} joined connections on ${counts.length} instance process(es) in ${connectSeconds.toFixed(0)} s ` +
          `(shared machine)`,
        `one instance holding ${counts[0]}: RSS ${mib(vmRss)} MiB; per connection ${rssPerConn.toFixed(0)} B RSS, ` +
          `${heapPerConn.toFixed(0)} B heap (growth since start / connections): ` +
          `${Math.floor(2 ** 30 / rssPerConn)} connections per GiB`,
        `signal latency at that instance: p50 ${percentile(latencies[0]!, 50).toFixed(1)} ms, ` +
          `p99 ${percentile(latencies[0]!, 99).toFixed(1)} ms`,
        `signal latency across all ${TARGET}: p50 ${percentile(all, 50).toFixed(1)} ms, p99 ` +
          `${percentile(all, 99).toFixed(1)} ms, ${lost} of ${all.length + lost} not delivered within 5 s`,
      ].join('\n'),
    );
  }, 900_000);
});

function split(total: number, parts: number): number[] {
  if (parts === 0) return [];
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}
