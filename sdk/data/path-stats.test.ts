import { describe, expect, it } from 'vitest';
import { readPath } from './path-stats.js';

const report = (entries: object[]) =>
  new Map(entries.map((e) => [(e as { id: string }).id, e])) as unknown as RTCStatsReport;

describe('readPath', () => {
  const base = [
    { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
    {
      id: 'P',
      type: 'candidate-pair',
      localCandidateId: 'L',
      remoteCandidateId: 'R',
      currentRoundTripTime: 0.0123,
    },
  ];

  it('direct when neither end of the selected pair is a relay candidate; RTT in ms', () => {
    const r = readPath(
      report([
        ...base,
        { id: 'L', type: 'local-candidate', candidateType: 'host' },
        { id: 'R', type: 'remote-candidate', candidateType: 'srflx' },
      ]),
    );
    expect(r).toEqual({
      path: 'direct',
      pairId: 'P',
      rttMs: 12,
      localCandidateType: 'host',
      remoteCandidateType: 'srflx',
    });
  });

  it('relay when either end is a TURN relay candidate', () => {
    const r = readPath(
      report([
        ...base,
        { id: 'L', type: 'local-candidate', candidateType: 'host' },
        { id: 'R', type: 'remote-candidate', candidateType: 'relay' },
      ]),
    );
    expect(r?.path).toBe('relay');
  });

  it('falls back to the nominated succeeded pair without a transport entry; null without any pair', () => {
    const r = readPath(
      report([
        { id: 'P', type: 'candidate-pair', nominated: true, state: 'succeeded', localCandidateId: 'L' },
        { id: 'L', type: 'local-candidate', candidateType: 'relay' },
      ]),
    );
    expect(r).toMatchObject({ path: 'relay', rttMs: undefined });
    expect(readPath(report([]))).toBeNull();
  });
});
