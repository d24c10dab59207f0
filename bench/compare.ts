/**
 * Two bench results side by side, typically one Node against another:
 * `npx tsx bench/compare.ts bench/results/node20.json bench/results/node26.json`.
 * For every row in both files it prints ours and the reference on each run with the change, and flags a
 * change of more than 10 % (`!`), saying whether it went the better or the worse way. Rows in only one
 * file are listed after. Reports only: the exit code says nothing about speed.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A change larger than this share of the first run's value is flagged. */
export const FLAG_SHARE = 0.1;

export interface ResultRow {
  figure: string;
  unit: string;
  ours: number;
  reference: number;
  referenceName: string;
  ratio: number;
  better: 'higher' | 'lower';
}

export interface Results {
  machine: { node: string; date: string; cores: number; cpu: string };
  quick: boolean;
  rows: ResultRow[];
}

const keyOf = (r: ResultRow) => `${r.figure}|${r.referenceName}`;

/** "+12.5 %" and whether it is beyond the flag; NaN-safe (a 0 → 0 is no change). */
export function change(a: number, b: number): { text: string; flagged: boolean; share: number } {
  if (a === b) return { text: '0 %', flagged: false, share: 0 };
  if (a === 0 || !Number.isFinite(a) || !Number.isFinite(b))
    return { text: 'n/a', flagged: a !== b, share: Infinity };
  const share = (b - a) / Math.abs(a);
  const pct = (share * 100).toFixed(1);
  return { text: `${share > 0 ? '+' : ''}${pct} %`, flagged: Math.abs(share) > FLAG_SHARE, share };
}

function side(a: number, b: number, unit: string, better: ResultRow['better']): string {
  const c = change(a, b);
  const way = c.share === 0 ? '' : c.share > 0 === (better === 'higher') ? ' better' : ' worse';
  return `${a} → ${b} ${unit} (${c.text}${c.flagged ? `, !${way}` : ''})`;
}

/** The comparison as a Markdown table and notes. */
export function compare(first: Results, second: Results, names: [string, string]): string {
  const byKey = new Map(second.rows.map((r) => [keyOf(r), r]));
  const lines = [
    `first: ${names[0]} (Node ${first.machine.node}, ${first.machine.date}${first.quick ? ', quick' : ''})`,
    `second: ${names[1]} (Node ${second.machine.node}, ${second.machine.date}${second.quick ? ', quick' : ''})`,
    `! marks a change of more than ${FLAG_SHARE * 100} %, with the way it went (by the row's "better").`,
    '',
    '| figure | reference | ours first → second | reference first → second | ratio first → second |',
    '|---|---|---|---|---|',
  ];
  let flagged = 0;
  for (const a of first.rows) {
    const b = byKey.get(keyOf(a));
    if (!b) continue;
    byKey.delete(keyOf(a));
    if (change(a.ours, b.ours).flagged || change(a.reference, b.reference).flagged) flagged++;
    lines.push(
      `| ${a.figure} | ${a.referenceName} | ${side(a.ours, b.ours, a.unit, a.better)} | ` +
        `${side(a.reference, b.reference, a.unit, a.better)} | ${a.ratio} → ${b.ratio} |`,
    );
  }
  const onlyFirst = first.rows.filter((r) => !second.rows.some((s) => keyOf(s) === keyOf(r)));
  lines.push(
    '',
    `${flagged} of ${first.rows.length - onlyFirst.length} rows changed by more than 10 % on one side.`,
  );
  for (const r of onlyFirst) lines.push(`- only in the first: ${r.figure} (${r.referenceName})`);
  for (const r of byKey.values()) lines.push(`- only in the second: ${r.figure} (${r.referenceName})`);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [a, b] = process.argv.slice(2);
  if (!a || !b) {
    process.stderr.write('usage: npx tsx bench/compare.ts <first.json> <second.json>\n');
    process.exit(2);
  }
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Results;
  process.stdout.write(`${compare(read(a), read(b), [basename(a), basename(b)])}\n`);
}
