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
import { connections, startTarget, throughput } from './signaling-relay.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name, file, line), in ms, highest first. */
export function selfTimes(profile: CpuProfile): Array<{ fn: string; ms: number; share: number }> {
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byFn = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const us = byNode.get(node.id) ?? 0;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(node_modules\/)?/, '');
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
  return [...byFn.entries()]
    .map(([fn, us]) => ({ fn, ms: us / 1000, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.ms - a.ms);
}

const mode = process.argv[2] ?? 'relay';
const amount = Number(process.argv[3] ?? (mode === 'accepts' ? 3000 : 5));
const dir = mkdtempSync(join(tmpdir(), 'sig-prof-'));
const target = await startTarget('ours', ['--cpu-prof', '--cpu-prof-dir', dir]);
try {
  if (mode === 'accepts') console.log(await connections(target, amount));
  else console.log(await throughput(target, amount));
} finally {
  await target.stop();
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
const rows = selfTimes(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
console.log(`profile: ${join(dir, file)}`);
for (const r of rows.slice(0, 25))
  console.log(`${(r.share * 100).toFixed(1).padStart(5)}%  ${r.ms.toFixed(0).padStart(6)} ms  ${r.fn}`);
