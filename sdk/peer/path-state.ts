/**
 * Where one pair's data goes and how well: the path (`connecting`, `direct`, `relay`, `websocket`), the RTT
 * and the quality grade, the latter two read from the live link's stats (`link-stats.ts`). The one owner of
 * those values; it reports a change of either through its two callbacks (the session's `path` and
 * `quality` events). Each link gets a fresh reader, so rates never compare readings of two links.
 */
import { LinkStatsReader, type ConnectionQuality, type LinkStats } from './link-stats.js';
import type { Path } from './session-types.js';

export interface PathReports {
  path(path: Path, rttMs: number | undefined): void;
  quality(quality: ConnectionQuality): void;
}

export class PathState {
  path: Path = 'connecting';
  rttMs: number | undefined;
  /** The live link's latest stats reading; null while none is up or its stats name no pair yet. */
  stats: LinkStats | null = null;
  private reader = new LinkStatsReader();
  private reportedQuality: ConnectionQuality = 'lost';

  constructor(private readonly reports: PathReports) {}

  /** A new link: its readings start afresh. */
  newLink(): void {
    this.reader = new LinkStatsReader();
    this.stats = null;
  }

  /** good / poor from the live link's loss and RTT; lost while no link is up. */
  get quality(): ConnectionQuality {
    if (this.path === 'websocket' || this.path === 'connecting') return 'lost';
    return this.stats?.quality ?? 'good';
  }

  /** Read one report of the current link (the caller keeps it only if that link is still current). */
  async read(report: Promise<RTCStatsReport>, now: number): Promise<LinkStats | null | undefined> {
    const reader = this.reader;
    try {
      return reader.read(await report, now);
    } catch {
      return undefined; // the link closed under the read
    }
  }

  /** Take a reading of the live link: path, RTT and quality from it; `announce` reports the path even unchanged. */
  take(reading: LinkStats | null, announce = false): void {
    this.stats = reading;
    this.set(reading?.path ?? 'direct', reading?.rttMs, announce);
  }

  set(path: Path, rttMs: number | undefined, announce = false): void {
    const changed = path !== this.path || rttMs !== this.rttMs;
    this.path = path;
    this.rttMs = rttMs;
    if (changed || announce) this.reports.path(path, rttMs);
    const quality = this.quality;
    if (quality === this.reportedQuality) return;
    this.reportedQuality = quality;
    this.reports.quality(quality);
  }
}
