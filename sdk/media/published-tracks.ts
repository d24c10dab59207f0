/**
 * The local tracks this room publishes: every current link carries them, and every new or replacement
 * link gets them from here, so a link swap never loses the app's media.
 */
export interface PublishedTrack {
  track: MediaStreamTrack;
  stream: MediaStream;
}

export class PublishedTracks {
  private readonly entries: PublishedTrack[] = [];

  /** False when the pair was already published. */
  add(track: MediaStreamTrack, stream: MediaStream): boolean {
    if (this.entries.some((e) => e.track === track && e.stream === stream)) return false;
    this.entries.push({ track, stream });
    return true;
  }

  /** False when the pair was not published. */
  remove(track: MediaStreamTrack, stream: MediaStream): boolean {
    const i = this.entries.findIndex((e) => e.track === track && e.stream === stream);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    return true;
  }

  /** Put `newTrack` in `oldTrack`'s place (same stream); false when `oldTrack` is not published. */
  replace(oldTrack: MediaStreamTrack, newTrack: MediaStreamTrack): boolean {
    const entry = this.entries.find((e) => e.track === oldTrack);
    if (!entry) return false;
    entry.track = newTrack;
    return true;
  }

  ofStream(stream: MediaStream): PublishedTrack[] {
    return this.entries.filter((e) => e.stream === stream);
  }

  all(): readonly PublishedTrack[] {
    return this.entries;
  }
}
