/**
 * A port that cannot be opened is a configuration problem, not a crash: name the variable that sets it
 * and what to do, instead of a stack trace. The error Node gives for a failed bind or listen carries the
 * port (`err.port`), which picks the variable.
 */
import { ConfigError } from './env-table.js';

export interface ListenTarget {
  /** The variable that sets this port. */
  key: string;
  port: number;
  /** A sentence on the likely culprit, for ports with a known usual occupant. */
  hint?: string;
}

/** Debian's coturn package starts a turnserver on 3478 by itself; the usual cause of a taken TURN_PORT. */
export const COTURN_HINT =
  "A system coturn is the usual holder of 3478 (Debian's coturn package starts a turnserver): stop it (systemctl stop coturn)";

/** A ConfigError naming the variable for a listen error, or null when `err` is not one. */
export function listenFailure(err: unknown, targets: readonly ListenTarget[]): ConfigError | null {
  const e = err as (NodeJS.ErrnoException & { port?: number; address?: string }) | null;
  if (!e || (e.code !== 'EADDRINUSE' && e.code !== 'EACCES')) return null;
  const target =
    targets.find((t) => t.port === e.port && t.port !== 0) ?? (targets.length === 1 ? targets[0] : undefined);
  if (!target) return null;
  const where = `${e.address ? `${e.address}:` : ''}${e.port ?? target.port}`;
  const what =
    e.code === 'EADDRINUSE'
      ? `${where} is already in use by another process; set ${target.key} to a free port`
      : `${where} needs privileges this user lacks (ports below 1024); set ${target.key} to a port above 1023`;
  return new ConfigError(target.key, `${what}${target.hint ? `. ${target.hint}` : ''}`);
}
