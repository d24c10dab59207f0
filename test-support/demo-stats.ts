/** The shape of `window.__demo.stats()` on the call page, and lookups into it. */
export interface InboundStats {
  kind: 'audio' | 'video';
  trackIdentifier?: string;
  packetsReceived: number;
  bytesReceived: number;
  framesDecoded?: number;
  frameWidth?: number;
  totalAudioEnergy?: number;
  audioLevel?: number;
}

export interface PeerStats {
  peerId: string;
  path: string;
  rttMs?: number;
  localCandidateType?: string;
  remoteCandidateType?: string;
  bitrateKbps?: number;
  lossPct?: number;
  inbound?: InboundStats[];
}

/** The inbound RTP stream of `kind` (of one track when given; else the one with the most packets). */
export function inboundOf(s: PeerStats, kind: 'audio' | 'video', trackId?: string): InboundStats | undefined {
  const streams = (s.inbound ?? []).filter(
    (i) => i.kind === kind && (trackId === undefined || i.trackIdentifier === trackId),
  );
  return streams.sort((a, b) => b.packetsReceived - a.packetsReceived)[0];
}

/** One entry of `window.__demo.tiles()` on the call page. */
export interface TileInfo {
  key: string;
  peerId: string;
  name: string;
  local: boolean;
  screen: boolean;
  badge: string | null;
  videoWidth: number;
  trackIds: string[];
}
