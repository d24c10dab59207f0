/**
 * Where our signaling server spends its CPU: starts it with `node --cpu-prof`, drives it with the same load
 * as a bench figure, and prints the functions with the most self time. Not part of `npm run bench`; run it
 * before and after a change to the hot path:
 *
 *   npx tsx bench/profile-signaling.ts relay [seconds]     # the throughput figure's load
 *   npx tsx bench/profile-signaling.ts accepts [count]     # upgrades, JWT and joins
 *
 * The `.cpuprofile` stays in the printed directory (open it in Chrome DevTools for the call tree).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../test-support/processes.js';
import { connections, startTarget, throughput } from './signaling-relay.js';

const ROOT_URL = pathToFileURL(ROOT).href;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

type Row = { fn: string; ms: number; share: number };

const keyOf = ({ callFrame: { functionName, url, lineNumber } }: ProfileNode): string => {
  const file = url.startsWith(ROOT_URL)
    ? url.slice(ROOT_URL.length).replace(/^node_modules\//, '')
    : url.replace(/^.*\//, '');
  return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
};

/**
 * Self time per function (name, file, line) and, for this repository's own functions, inclusive time
 * (the function and what it called; a recursive function counted once per stack), in ms, highest first.
 */
export function times(profile: CpuProfile): { self: Row[]; inclusive: Row[] } {
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const walk = (id: number, open: Set<string>): number => {
    const node = nodes.get(id)!;
    const key = keyOf(node);
    const mine = selfUs.get(id) ?? 0;
    self.set(key, (self.get(key) ?? 0) + mine);
    const fresh = !open.has(key);
    if (fresh) open.add(key);
    let sum = mine;
    for (const child of node.children ?? []) sum += walk(child, open);
    if (fresh) {
      open.delete(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
    }
    return sum;
  };
  const childIds = new Set(profile.nodes.flatMap((n) => n.children ?? []));
  for (const n of profile.nodes) if (!childIds.has(n.id)) walk(n.id, new Set());
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([fn, us]) => ({ fn, ms: us / 1000, share: total > 0 ? us / total : 0 }))
      .sort((a, b) => b.ms - a.ms);
  const ours = /^\S+ (signaling|common|turn)\//;
  return { self: rows(self), inclusive: rows(inclusive).filter((r) => ours.test(r.fn)) };
}

const mode = process.argv[2] ?? 'relay';
const amount = Number(process.argv[3] ?? (mode === 'accepts' ? 3000 : 5));
const dir = mkdtempSync(join(tmpdir(), 'sig-prof-'));
const target = await startTarget('ours', [], ['--cpu-prof', '--cpu-prof-dir', dir]);
try {
  if (mode === 'accepts') console.log(await connections(target, amount));
  else console.log(await throughput(target, amount));
} finally {
  await target.stop();
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
const { self, inclusive } = times(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
const print = (r: Row) =>
  console.log(`${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.fn}`);
console.log(`profile: ${join(dir, file)}\nself time:`);
self.slice(0, 25).forEach(print);
console.log('inclusive time, our functions:');
inclusive.slice(0, 20).forEach(print);
