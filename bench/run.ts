/**
 * `npm run bench [-- --quick]`: every figure beside the reference a user would pick instead, measured in
 * the same run, repeated, medians reported with pair-by-pair ratios. Writes bench/results/latest.json.
 * Reports; never passes or fails on speed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
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
  const ratios: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const pair: number[] = [];
    for (const name of ['ours', 'bare-ws'] as const) {
      const target = await startTarget(name);
      try {
        pair.push(await measure(target));
      } finally {
        await target.stop();
      }
    }
    ours.push(pair[0]!);
    ref.push(pair[1]!);
    ratios.push(pair[0]! / pair[1]!);
  }
  const row = {
    figure,
    unit,
    better,
    referenceName,
    ours: median(ours),
    reference: median(ref),
    ratio: round(median(ratios), 2),
  };
  rows.push(row);
  process.stderr.write(
    `  ${figure}: ours ${row.ours} ${unit}, ${referenceName} ${row.reference} ${unit} (×${row.ratio})\n`,
  );
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
