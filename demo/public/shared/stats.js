// Read what the overlay shows from an RTCStatsReport (webrtc-stats): the selected candidate pair's RTT
// and candidate types, inbound bitrate and packet loss since the previous reading, and per-track
// inbound counters (frames decoded, audio energy) that the tests read through window.__demo.

/** `prev` is the previous summary of the same link (for rates), or undefined. */
export function summarize(report, prev) {
  const all = new Map();
  report.forEach((s) => all.set(s.id, s));
  let pair;
  for (const s of all.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = all.get(s.selectedCandidatePairId);
  }
  if (!pair) {
    for (const s of all.values()) {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    }
  }
  const local = pair && all.get(pair.localCandidateId);
  const remote = pair && all.get(pair.remoteCandidateId);
  const inbound = [];
  let bytes = 0;
  let received = 0;
  let lost = 0;
  for (const s of all.values()) {
    if (s.type !== 'inbound-rtp') continue;
    bytes += s.bytesReceived ?? 0;
    received += s.packetsReceived ?? 0;
    lost += Math.max(0, s.packetsLost ?? 0);
    inbound.push({
      kind: s.kind,
      trackIdentifier: s.trackIdentifier,
      packetsReceived: s.packetsReceived ?? 0,
      bytesReceived: s.bytesReceived ?? 0,
      framesDecoded: s.framesDecoded,
      frameWidth: s.frameWidth,
      frameHeight: s.frameHeight,
      totalAudioEnergy: s.totalAudioEnergy,
      audioLevel: s.audioLevel,
    });
  }
  const at = performance.now();
  let bitrateKbps;
  let lossPct;
  if (prev) {
    const seconds = (at - prev.at) / 1000;
    if (seconds > 0) bitrateKbps = Math.max(0, Math.round(((bytes - prev.bytes) * 8) / seconds / 1000));
    const dReceived = received - prev.received;
    const dLost = lost - prev.lost;
    if (dReceived + dLost > 0) lossPct = Math.round((1000 * Math.max(0, dLost)) / (dReceived + dLost)) / 10;
  }
  return {
    at,
    bytes,
    received,
    lost,
    rttMs:
      typeof pair?.currentRoundTripTime === 'number'
        ? Math.round(pair.currentRoundTripTime * 1000)
        : undefined,
    localCandidateType: local?.candidateType,
    remoteCandidateType: remote?.candidateType,
    bitrateKbps,
    lossPct,
    inbound,
  };
}

export function formatSummary(s, path) {
  const parts = [];
  parts.push(`RTT ${s?.rttMs ?? '–'} ms`);
  parts.push(`${s?.bitrateKbps ?? '–'} kbit/s`);
  parts.push(`loss ${s?.lossPct ?? '–'}%`);
  if (s?.localCandidateType) parts.push(`${s.localCandidateType}→${s.remoteCandidateType}`);
  else if (path === 'websocket') parts.push('via server');
  return parts.join(' · ');
}
