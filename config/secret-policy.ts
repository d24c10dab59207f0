/**
 * What a production secret must be. A manifest's `change-me-…` or a one-character TURN secret starts
 * fine and then lets anyone who reads the manifest (or guesses) mint tokens and TURN credentials, so in
 * production such values stop the process at start, naming the variable. Values are never echoed.
 */
import { ConfigError } from './env-table.js';

/** Shortest TURN REST secret accepted in production: 128 bits as 16 random bytes. */
export const MIN_TURN_SECRET_LENGTH = 16;

/** Words that mark a value copied from an example rather than generated. */
const PLACEHOLDER =
  /change[-_ ]?me|changeit|replace[-_ ]?me|placeholder|your[-_ ]?secret|^secret$|^password$|example/i;

/** Why `value` is not a real secret, or null when it may be one. */
export function weakSecretReason(value: string, minLength: number): string | null {
  if (PLACEHOLDER.test(value))
    return 'looks like a placeholder from an example; generate one (openssl rand -base64 32)';
  if (value.length < minLength)
    return `is ${value.length} characters; use at least ${minLength} random ones (openssl rand -base64 32)`;
  if (new Set(value).size < 4) return 'repeats too few characters to be random';
  return null;
}

/** In production, refuse placeholder and short values of `key`; elsewhere accept anything. */
export function requireRealSecrets(
  key: string,
  values: readonly string[],
  minLength: number,
  production: boolean,
): void {
  if (!production) return;
  values.forEach((value, i) => {
    const reason = weakSecretReason(value, minLength);
    if (reason)
      throw new ConfigError(
        key,
        `${values.length > 1 ? `entry ${i + 1} ` : ''}${reason} (refused when NODE_ENV=production)`,
      );
  });
}
