/** bench/compare.ts: rows matched by figure and reference, changes beyond 10 % flagged with their way. */
import { describe, expect, it } from 'vitest';
import { change, compare, type ResultRow, type Results } from './compare.js';

const row = (over: Partial<ResultRow>): ResultRow => ({
  figure: 'signaling relay throughput',
  unit: 'msg/s',
  ours: 100,
  reference: 200,
  referenceName: 'bare ws relay',
  ratio: 0.5,
  better: 'higher',
  ...over,
});
const results = (node: string, rows: ResultRow[]): Results => ({
  machine: { node, date: '2026-12-01T00:00:00Z', cores: 2, cpu: 'test' },
  quick: true,
  rows,
});

describe('bench compare', () => {
  it('flags changes beyond 10 % only', () => {
    expect(change(100, 110)).toMatchObject({ text: '+10.0 %', flagged: false });
    expect(change(100, 89)).toMatchObject({ text: '-11.0 %', flagged: true });
    expect(change(0, 0)).toMatchObject({ text: '0 %', flagged: false });
    expect(change(0, 1)).toMatchObject({ text: 'n/a', flagged: true });
  });

  it('matches rows by figure and reference and says which way a flagged change went', () => {
    const first = results('v20.20.2', [
      row({}),
      row({ referenceName: 'PeerJS server 1.0.2', reference: 50, ratio: 2 }),
      row({ figure: 'p99', unit: 'ms', ours: 5, reference: 3, better: 'lower' }),
      row({ figure: 'gone' }),
    ]);
    const second = results('v26.12.1', [
      row({ ours: 130 }),
      row({ referenceName: 'PeerJS server 1.0.2', reference: 50, ratio: 2, ours: 101 }),
      row({ figure: 'p99', unit: 'ms', ours: 6, reference: 3, better: 'lower' }),
      row({ figure: 'new' }),
    ]);
    const text = compare(first, second, ['a.json', 'b.json']);
    expect(text).toContain('100 → 130 msg/s (+30.0 %, ! better)');
    expect(text).toContain('| PeerJS server 1.0.2 | 100 → 101 msg/s (+1.0 %)');
    expect(text).toContain('5 → 6 ms (+20.0 %, ! worse)');
    expect(text).toContain('2 of 3 rows changed');
    expect(text).toContain('only in the first: gone');
    expect(text).toContain('only in the second: new');
  });
});
