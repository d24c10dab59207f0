/**
 * `npm run bench [-- --quick]`: every figure beside the reference a user would pick instead, measured in
 * the same run, repeated, medians reported with pair-by-pair ratios. Writes bench/results/latest.json.
 * Reports; never passes or fails on speed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bareSimplePeerSetup, sdkCallSetup } from './call-setup.js';
import { connections, fanOut, latency, startTarget, throughput } from './signaling-relay.js';
import type { Target } from './targets.js';
import { median, round } from './stats.js';

const quick = process.argv.includes('--quick');
const REPEATS = quick ? 1 : 3;
const SECONDS = quick ? 1 : 3;
const IDLE_CONNECTIONS = quick ? 1000 : 10_000;
const RESULTS = fileURLToPath(new URL('./results/latest.json', import.meta.url));

interface Row {
  figure: string;
  unit: string;
  ours: number;
  reference: number;
  referenceName: string;
  /** ours / reference, medians of pair-by-pair ratios. */
  ratio: number;
  better: 'higher' | 'lower';
}

const rows: Row[] = [];
const SETUP_RUNS = quick ? 3 : 10;

/** Like `paired`, for figures whose two sides are different functions rather than two servers. */
async function pairedFns(
  figure: string,
  unit: string,
  better: Row['better'],
  referenceName: string,
  ours: () => Promise<number>,
  reference: () => Promise<number>,
): Promise<void> {
  const o: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    o.push(await ours());
    r.push(await reference());
  }
  record({ figure, unit, better, referenceName }, o, r);
}

function record(
  meta: Pick<Row, 'figure' | 'unit' | 'better' | 'referenceName'>,
  ours: number[],
  ref: number[],
): void {
  const ratios = ours.map((v, i) => v / ref[i]!);
  const row: Row = { ...meta, ours: median(ours), reference: median(ref), ratio: round(median(ratios), 2) };
  rows.push(row);
  process.stderr.write(
    `  ${row.figure}: ours ${row.ours} ${row.unit}, ${row.referenceName} ${row.reference} ${row.unit} (×${row.ratio})\n`,
  );
}

/** Run ours and the reference alternately `REPEATS` times; ratio per pair, medians of all. */
async function paired(
  figure: string,
  unit: string,
  better: Row['better'],
  referenceName: string,
  measure: (t: Target) => Promise<number>,
): Promise<void> {
  const ours: number[] = [];
  const ref: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    for (const [name, into] of [
      ['ours', ours],
      ['bare-ws', ref],
    ] as const) {
      const target = await startTarget(name);
      try {
        into.push(await measure(target));
      } finally {
        await target.stop();
      }
    }
  }
  record({ figure, unit, better, referenceName }, ours, ref);
}

async function main(): Promise<void> {
  const machine = {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    date: new Date().toISOString(),
  };
  process.stderr.write(
    `bench ${quick ? '(quick) ' : ''}on ${machine.cores} cores, ${machine.cpu}, Node ${machine.node}\n`,
  );
  process.stderr.write(
    `command: npm run bench${quick ? ' -- --quick' : ''}; repetitions ${REPEATS}, ${SECONDS}s per load phase\n`,
  );

  await paired(
    'signaling relay throughput',
    'msg/s',
    'higher',
    'bare ws relay',
    async (t) => (await throughput(t, SECONDS)).messagesPerSecond,
  );
  await paired(
    'signaling p50 latency @5000 msg/s',
    'ms',
    'lower',
    'bare ws relay',
    async (t) => (await latency(t, SECONDS)).p50ms,
  );
  await paired(
    'signaling p99 latency @5000 msg/s',
    'ms',
    'lower',
    'bare ws relay',
    async (t) => (await latency(t, SECONDS)).p99ms,
  );
  await paired(
    `memory per idle connection (${IDLE_CONNECTIONS})`,
    'bytes',
    'lower',
    'bare ws server',
    async (t) => (await connections(t, IDLE_CONNECTIONS)).bytesPerConnection,
  );
  await paired(
    'accepts per second (handshake, auth, join)',
    'conn/s',
    'higher',
    'bare ws server',
    async (t) => (await connections(t, quick ? 500 : 2000)).acceptsPerSecond,
  );
  await paired(
    'fan-out to a room of 20, last receiver',
    'ms',
    'lower',
    'bare ws relay',
    async (t) => (await fanOut(t)).lastReceiverMsMedian,
  );

  await pairedFns(
    'call setup, connect() to first data-channel message (direct)',
    'ms',
    'lower',
    'bare simple-peer pair, in-process',
    () => sdkCallSetup(SETUP_RUNS),
    () => bareSimplePeerSetup(SETUP_RUNS),
  );

  const table = [
    '| figure | ours | reference | ratio (ours/ref) |',
    '|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.figure} | ${r.ours} ${r.unit} | ${r.reference} ${r.unit} (${r.referenceName}) | ${r.ratio} (${r.better} is better) |`,
    ),
  ].join('\n');
  process.stdout.write(`\n${table}\n`);
  mkdirSync(fileURLToPath(new URL('./results/', import.meta.url)), { recursive: true });
  writeFileSync(
    RESULTS,
    JSON.stringify({ machine, quick, repeats: REPEATS, seconds: SECONDS, rows }, null, 2),
  );
  process.stdout.write(`\nresults written to bench/results/latest.json\n`);
}

await main();
