/**
 * The one environment loader. Signaling (`signaling/config.ts`) and the relay (`turn/config.ts`) each
 * declare a table of the variables they read, every one with its schema, default and description; this
 * module validates a table against the environment and throws one ConfigError that names the variable and
 * the value given, prints the `--help` rows, and holds the value shapes both tables use. Nothing else reads
 * `process.env`. A new variable is one more row in a table.
 */
import { z } from 'zod';

/** A bad or missing value, named by its variable; `npm start` prints it and exits 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The environment variable at fault. */
    readonly key: string,
    message: string,
  ) {
    super(`${key}: ${message}`);
  }
}

/** Exit code of a configuration error: the supervisor and orchestrators read it as "fix the config". */
export const EXIT_CONFIG = 2;

/** How an entry point ends on a ConfigError: one line naming the variable, then exit code 2. */
export function reportConfigError(err: ConfigError): void {
  process.stderr.write(`configuration error: ${err.message}\n(see --help)\n`);
  process.exitCode = EXIT_CONFIG;
}

export interface EnvKey<T extends z.ZodType = z.ZodType> {
  /** Validates the raw string and turns it into the value the code uses. */
  schema: T;
  description: string;
  /** The value taken when the variable is unset or empty, written as it would be in the environment. */
  default?: string | undefined;
  /** What `--help` says when the default is not one fixed value (e.g. "generated in development"). */
  defaultText?: string | undefined;
  /** A secret: an error about it gives its length, never its value. */
  secret?: boolean | undefined;
}

export type EnvTable = Record<string, EnvKey>;

/** Each variable's parsed value, or undefined when it is unset and has no default. */
export type EnvValues<T extends EnvTable> = { [K in keyof T]: z.output<T[K]['schema']> | undefined };

/** One table row. */
export function envKey<T extends z.ZodType>(
  schema: T,
  description: string,
  options: Omit<EnvKey<T>, 'schema' | 'description'> = {},
): EnvKey<T> {
  return { schema, description, ...options };
}

/** How an error shows the value given: quoted, or only its length for a secret. */
export function shownValue(raw: string, secret = false): string {
  return secret ? `(a value of ${raw.length} characters, not shown)` : JSON.stringify(raw);
}

/** Validate every variable of `table`; throws ConfigError naming the first bad one and its value. */
export function loadEnvTable<T extends EnvTable>(table: T, env: NodeJS.ProcessEnv): EnvValues<T> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const given = env[name];
    const raw = given === undefined || given === '' ? spec.default : given;
    if (raw === undefined) {
      out[name] = undefined;
      continue;
    }
    const result = spec.schema.safeParse(raw);
    if (!result.success) {
      const reason = result.error.issues[0]?.message ?? 'invalid value';
      throw new ConfigError(name, `${shownValue(raw, spec.secret)} is not accepted: ${reason}`);
    }
    out[name] = result.data;
  }
  return out as EnvValues<T>;
}

export interface EnvDoc {
  key: string;
  /** The default as `--help` shows it; empty when there is none. */
  default: string;
  description: string;
}

/** `--help` rows of a table. */
export function envDocs(table: EnvTable): EnvDoc[] {
  return Object.entries(table).map(([key, spec]) => ({
    key,
    default: spec.defaultText ?? spec.default ?? '',
    description: spec.description,
  }));
}

/** The `--help` text: usage lines, then every variable with its default when it has one. */
export function formatHelp(usage: string[], rows: EnvDoc[]): string {
  const width = Math.max(...rows.map((r) => r.key.length));
  const pad = ' '.repeat(width);
  return [
    ...usage,
    '',
    ...rows.map(
      (r) =>
        `  ${r.key.padEnd(width)}  ${r.description}${r.default ? `\n  ${pad}  default: ${r.default}` : ''}`,
    ),
    '',
  ].join('\n');
}

// Value shapes shared by both tables. Messages say what is expected; the loader adds the value given.

/** A whole number within [min, max]. */
export const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, `must be a whole number from ${min} to ${max}`)
        .max(max, `must be a whole number from ${min} to ${max}`),
    );

/** A number (decimals allowed) above 0 and at most `max`. */
export const positiveUpTo = (max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `must be a number above 0 and at most ${max}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .gt(0, `must be a number above 0 and at most ${max}`)
        .max(max, `must be a number above 0 and at most ${max}`),
    );

/** A TCP or UDP port; 0 asks the system for a free one. */
export const port = intIn(0, 65535);

export const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], 'must be true or false (or 1/0, yes/no)')
  .transform((v) => ['true', '1', 'yes'].includes(v));

/** Comma-separated, trimmed, empty entries dropped. */
export const csv = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

export const nodeEnv = z.enum(
  ['development', 'production', 'test'],
  'must be development, production or test',
);

/**
 * Browser origins, comma-separated: `*`, or each exactly as a browser sends the Origin header
 * (scheme://host[:port], no path; RFC 6454 §6.1), so a typo cannot silently lock every browser out.
 */
export const origins = csv.superRefine((list, ctx) => {
  for (const entry of list) {
    if (entry === '*') continue;
    let origin: string | undefined;
    try {
      const url = new URL(entry);
      if (url.protocol === 'http:' || url.protocol === 'https:') origin = url.origin;
    } catch {
      origin = undefined;
    }
    if (origin !== entry.replace(/\/$/, '') || entry.endsWith('/'))
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(entry)} is not an origin: write it as http(s)://host[:port], without a path, or *`,
      });
  }
});
