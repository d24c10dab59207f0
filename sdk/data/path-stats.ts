/**
 * Which path a live link uses, read from `getStats()`: the selected candidate pair (RFC 8445 §6.1.3 /
 * webrtc-stats `transport.selectedCandidatePairId`), `relay` when either end is a TURN relay candidate,
 * else `direct`; RTT from the pair's `currentRoundTripTime`.
 */
export type LinkPath = 'direct' | 'relay';

export interface PathReading {
  path: LinkPath;
  /** The selected pair's stats id: a new one after an ICE restart selected a pair of the new generation. */
  pairId: string;
  rttMs: number | undefined;
  localCandidateType: string | undefined;
  remoteCandidateType: string | undefined;
}

interface StatsEntry {
  id: string;
  type: string;
  selectedCandidatePairId?: string;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
  state?: string;
  nominated?: boolean;
  selected?: boolean;
  currentRoundTripTime?: number;
}

export function readPath(report: RTCStatsReport): PathReading | null {
  const entries = new Map<string, StatsEntry>();
  report.forEach((value: StatsEntry) => entries.set(value.id, value));
  let pair: StatsEntry | undefined;
  for (const e of entries.values()) {
    if (e.type === 'transport' && e.selectedCandidatePairId) pair = entries.get(e.selectedCandidatePairId);
  }
  if (!pair) {
    for (const e of entries.values()) {
      if (e.type === 'candidate-pair' && (e.selected || (e.nominated && e.state === 'succeeded'))) pair = e;
    }
  }
  if (!pair) return null;
  const local = pair.localCandidateId ? entries.get(pair.localCandidateId) : undefined;
  const remote = pair.remoteCandidateId ? entries.get(pair.remoteCandidateId) : undefined;
  const relayed = local?.candidateType === 'relay' || remote?.candidateType === 'relay';
  return {
    path: relayed ? 'relay' : 'direct',
    pairId: pair.id,
    rttMs:
      typeof pair.currentRoundTripTime === 'number'
        ? Math.round(pair.currentRoundTripTime * 1000)
        : undefined,
    localCandidateType: local?.candidateType,
    remoteCandidateType: remote?.candidateType,
  };
}
