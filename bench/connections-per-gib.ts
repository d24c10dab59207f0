/**
 * Connections per GiB: how many idle joined connections one instance holds in a GiB of resident memory,
 * read from the memory-per-idle-connection figure measured in the same run (RSS growth over the idle
 * connections / their count), for ours and for the bare `ws` reference. What a machine holds in practice
 * is also capped by the open-file limit (one descriptor per socket); `signaling/scale.e2e.test.ts` holds
 * 100 000 across as many processes as that limit requires.
 */
const GIB = 2 ** 30;

export interface MemoryRow {
  ours: number;
  reference: number;
  referenceName: string;
}

/** Connections that fit in a GiB at `bytesPerConnection`, rounded down; 0 when the figure is unusable. */
export function connectionsPerGiB(bytesPerConnection: number): number {
  return bytesPerConnection > 0 ? Math.floor(GIB / bytesPerConnection) : 0;
}

/** The bench note for the memory row (its figures are medians in bytes per connection). */
export function connectionsPerGiBNote(row: MemoryRow): string {
  return (
    `connections per GiB (from memory per idle connection): ours ${connectionsPerGiB(row.ours)}, ` +
    `${row.referenceName} ${connectionsPerGiB(row.reference)}`
  );
}
