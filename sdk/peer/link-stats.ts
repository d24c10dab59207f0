/**
 * A pair's link in a few numbers, from successive `getStats()` reports: path and candidate types (from
 * the selected candidate pair, `data/path-stats.ts`), RTT, bitrate each way (the pair's byte counters
 * over the time between two reports, media and data together), packet loss of received media (RTP
 * `packetsLost` against `packetsReceived` over the same interval), and a quality grade from them.
 */
import { DEFAULTS } from '../defaults.js';
import { readPath, type PathReading } from '../data/path-stats.js';

/** `lost`: no link is up (data takes signaling); `poor`: loss or RTT past `DEFAULTS.poor*`. */
export type ConnectionQuality = 'good' | 'poor' | 'lost';

export interface LinkStats extends PathReading {
  /** kbit/s sent and received on the selected candidate pair since the previous reading. */
  sendKbps: number | undefined;
  receiveKbps: number | undefined;
  /** Received RTP packets lost, in all, and in percent over the last interval. */
  packetsLost: number;
  lossPercent: number | undefined;
  quality: ConnectionQuality;
}

interface Counters {
  at: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  packetsReceived: number;
}

interface Entry {
  id: string;
  type: string;
  selectedCandidatePairId?: string;
  bytesSent?: number;
  bytesReceived?: number;
  packetsLost?: number;
  packetsReceived?: number;
}

function counters(report: RTCStatsReport, at: number): Counters {
  const entries = new Map<string, Entry>();
  report.forEach((v: Entry) => entries.set(v.id, v));
  const c: Counters = { at, bytesSent: 0, bytesReceived: 0, packetsLost: 0, packetsReceived: 0 };
  for (const e of entries.values()) {
    if (e.type === 'transport' && e.selectedCandidatePairId) {
      const pair = entries.get(e.selectedCandidatePairId);
      c.bytesSent += pair?.bytesSent ?? 0;
      c.bytesReceived += pair?.bytesReceived ?? 0;
    }
    if (e.type === 'inbound-rtp') {
      c.packetsLost += Math.max(0, e.packetsLost ?? 0);
      c.packetsReceived += e.packetsReceived ?? 0;
    }
  }
  return c;
}

export function gradeQuality(rttMs: number | undefined, lossPercent: number | undefined): ConnectionQuality {
  const lossy = lossPercent !== undefined && lossPercent > DEFAULTS.poorLossPercent;
  const slow = rttMs !== undefined && rttMs > DEFAULTS.poorRttMs;
  return lossy || slow ? 'poor' : 'good';
}

/** Reads one link's reports in turn; rates and loss compare each report with the one before. */
export class LinkStatsReader {
  private last: Counters | null = null;

  read(report: RTCStatsReport, now: number): LinkStats | null {
    const path = readPath(report);
    if (!path) return null;
    const c = counters(report, now);
    const prev = this.last;
    this.last = c;
    const seconds = prev ? (c.at - prev.at) / 1000 : 0;
    const kbps = (bytes: number) => (seconds > 0 ? Math.round((bytes * 8) / 1000 / seconds) : undefined);
    const lost = prev ? c.packetsLost - prev.packetsLost : 0;
    const received = prev ? c.packetsReceived - prev.packetsReceived : 0;
    const lossPercent = lost + received > 0 ? Math.round((1000 * lost) / (lost + received)) / 10 : undefined;
    return {
      ...path,
      sendKbps: prev ? kbps(c.bytesSent - prev.bytesSent) : undefined,
      receiveKbps: prev ? kbps(c.bytesReceived - prev.bytesReceived) : undefined,
      packetsLost: c.packetsLost,
      lossPercent,
      quality: gradeQuality(path.rttMs, lossPercent),
    };
  }
}
