/**
 * External programs the tests drive (redis-server, nginx, turnserver, chromium). Outside CI a missing one
 * skips its test with a note; in CI (CI=true) it fails loudly, because CI must have installed it.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const SEARCH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

export function findTool(name: string): string | null {
  if (name.startsWith('/')) return canRun(name) ? name : null;
  for (const dir of SEARCH) {
    const candidate = join(dir, name);
    if (canRun(candidate)) return candidate;
  }
  return null;
}

function canRun(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The tool's path; in CI a missing tool throws, elsewhere it returns null so the caller can skip. */
export function requireTool(name: string): string | null {
  const found = findTool(name);
  if (found) return found;
  if (process.env.CI) throw new Error(`${name} is required in CI but is not installed (see .ci/run)`);
  process.stderr.write(`skipping: ${name} is not installed\n`);
  return null;
}

/** Whether a test needing `name` can run here: true when present; throws in CI when missing. */
export function hasTool(name: string): boolean {
  return requireTool(name) !== null;
}
