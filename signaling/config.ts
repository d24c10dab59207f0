/**
 * Signaling configuration: the table of every variable signaling reads, with its default and description,
 * validated by the shared loader (`config/env-table.ts`), which throws a ConfigError naming the variable
 * and the value given. `--help` prints `signalingEnvDocs`. A new variable is one more `envKey` row here.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  ConfigError,
  bool,
  csv,
  envDocs,
  envKey as key,
  intIn as int,
  loadEnvTable,
  nodeEnv,
  origins,
  port,
  positiveUpTo,
  type EnvDoc,
} from '../config/env-table.js';
import { requireRealSecrets, MIN_TURN_SECRET_LENGTH } from '../config/secret-policy.js';
import { REGISTRY_DEFAULTS } from '../turn/fleet/registry.js';
import { parseExternalIps } from '../turn/relay/listen-addresses.js';
import { REGION_PATTERN, parseRelaySpec, type RelaySpec } from '../turn/fleet/relay-spec.js';

export { ConfigError };

/** Port of the metrics listener (/metrics) in production when METRICS_PORT is unset. */
export const DEFAULT_METRICS_PORT = 9640;

/** Every environment variable signaling reads, with its default. */
export const signalingEnv = {
  NODE_ENV: key(nodeEnv, 'development enables generated secrets and the dev token route', {
    default: 'development',
  }),
  PORT: key(port, 'HTTP and WebSocket port (public: put it behind the load balancer)', { default: '8080' }),
  HOST: key(z.string().min(1), 'interface to listen on', { default: '0.0.0.0' }),
  METRICS_PORT: key(
    port,
    'metrics listener for /metrics (also /healthz and /readyz): a separate port that the load balancer and ' +
      'the internet do not reach; in development /metrics is also served on PORT',
    { defaultText: '9640 in production; development: on PORT only' },
  ),
  METRICS_HOST: key(z.string().min(1), 'interface of the metrics listener', { defaultText: 'HOST' }),
  ADMIN_PORT: key(port, 'port of the admin API (rooms, kick, close a room, revoke; admin-claim JWT)', {
    defaultText: 'none: no admin API',
  }),
  ADMIN_HOST: key(z.string().min(1), 'interface of the admin API (keep it off the public network)', {
    default: '127.0.0.1',
  }),
  NODE_ID: key(
    z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 . _ -'),
    'instance id in logs',
    {
      defaultText: 'hostname + random',
    },
  ),
  LOG_LEVEL: key(
    z.enum(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      'must be a pino level (info, debug, …)',
    ),
    'pino log level',
    { default: 'info' },
  ),
  JWT_SECRET: key(z.string().min(32, 'must be at least 32 characters'), 'HS256 secret for client tokens', {
    defaultText: 'generated in development; required in production',
    secret: true,
  }),
  JWT_PUBLIC_KEY: key(
    z.string().includes('-----BEGIN', { message: 'must be a PEM public key' }),
    'PEM public key: accept RS256/ES256 tokens instead of HS256',
  ),
  JWT_AUDIENCE: key(z.string().min(1), 'required `aud` claim', { default: 'relay-platform' }),
  JWT_ISSUER: key(z.string().min(1), 'required `iss` claim', { default: 'relay-platform' }),
  JWT_CLOCK_SKEW_S: key(int(0, 300), 'tolerated clock skew for exp/nbf, seconds', { default: '30' }),
  JWT_CACHE_SIZE: key(
    int(0, 1_000_000),
    'verified client tokens remembered until they expire (a reconnect skips the signature check), entries; 0 off',
    { default: '10000' },
  ),
  ALLOWED_ORIGINS: key(
    origins,
    'browser Origins allowed to connect (https://app.example.com), comma-separated; * for any',
    {
      defaultText: 'same origin, plus localhost in development',
    },
  ),
  TRUST_PROXY: key(bool, 'take the client IP from X-Forwarded-For (behind a load balancer)', {
    default: 'false',
  }),
  MAX_MESSAGE_BYTES: key(int(1024, 1 << 20), 'largest accepted frame, bytes', { default: '65536' }),
  RATE_LIMIT_PER_S: key(positiveUpTo(1e6), 'sustained messages per second per connection', {
    default: '100',
  }),
  RATE_LIMIT_BURST: key(int(1, 1e6), 'burst of messages per connection', { default: '200' }),
  MAX_CONNECTIONS: key(int(1, 1e7), 'connections per instance; more are refused with 503', {
    default: '20000',
  }),
  MAX_CONNECTIONS_PER_IP: key(int(1, 1e7), 'connections per client IP; more are refused with 429', {
    default: '64',
  }),
  ROOM_SIZE_MAX: key(int(2, 10000), 'members per room', { default: '16' }),
  HEARTBEAT_INTERVAL_MS: key(
    int(100, 600000),
    'ping interval; a connection silent for two intervals is closed',
    {
      default: '15000',
    },
  ),
  MAX_BUFFERED_BYTES: key(
    int(1024, 1 << 30),
    'send buffer per connection before it is closed for backpressure',
    {
      default: '1048576',
    },
  ),
  DRAIN_TIMEOUT_MS: key(int(0, 600000), 'on SIGTERM, how long clients get to leave before they are closed', {
    default: '25000',
  }),
  DRAIN_SPREAD_MS: key(
    int(0, 600000),
    'on drain, the window over which clients are told to reconnect (each its own afterMs), so they reach the ' +
      'other instances under their ADMISSION_RATE_PER_S; shortened to connections / ADMISSION_RATE_PER_S ' +
      "and to DRAIN_TIMEOUT_MS less 5 s (default: a full instance, MAX_CONNECTIONS, at one instance's rate)",
    { default: '20000' },
  ),
  ADMISSION_RATE_PER_S: key(
    positiveUpTo(1e6),
    'new WebSocket connections one instance takes per second, sustained; past it an upgrade gets 503 ' +
      'server_busy with Retry-After before its token is checked (one instance accepts about 1 600/s)',
    { default: '1000' },
  ),
  ADMISSION_BURST: key(int(1, 1e7), 'new WebSocket connections one instance takes at once', {
    default: '1000',
  }),
  ADMISSION_MAX_RETRY_AFTER_S: key(
    int(1, 3600),
    'longest Retry-After of a server_busy refusal, seconds (each refusal draws its own, over the backlog)',
    { default: '30' },
  ),
  RESUME_WINDOW_MS: key(int(0, 3600000), 'how long a dropped peer keeps its id and room seat for a resume', {
    default: '30000',
  }),
  CLIENT_TELEMETRY: key(
    bool,
    'accept POST /v1/telemetry: call setup times and paths reported by the SDK (token required, rate-limited per IP)',
    { default: 'true' },
  ),
  TURN_CREDENTIAL_TTL_S: key(
    int(60, 7 * 86400),
    'lifetime of minted TURN credentials, seconds (4 h: longer than most calls, since a relay checks expiry only at allocation)',
    { default: '14400' },
  ),
  TURN_SECRETS: key(csv, 'TURN REST API secrets, comma-separated: the first signs, all verify', {
    defaultText: `generated in development; required in production, each at least ${MIN_TURN_SECRET_LENGTH} characters`,
    secret: true,
  }),
  /**
   * The relay fleet, comma-separated. Each entry is a turn:/turns:/stun: URL (RFC 7064/7065), optionally
   * followed by `;region=<label>` and `;weight=<0-1000>` (default 1), e.g.
   * `turn:relay-eu.example:3478?transport=udp;region=eu;weight=2`. A plain URL is a relay with no region
   * and weight 1, as before. See turn/fleet/relay-spec.ts.
   */
  TURN_SERVERS: key(
    csv,
    'external relays handed to clients, comma-separated: turn:/turns:/stun: URLs, each optionally followed by ' +
      ';region=<label>;weight=<0-1000> (default 1), e.g. turn:relay-eu.example:3478?transport=udp;region=eu;weight=2. ' +
      'Clients get the healthy ones, those in their region (?region= on the WebSocket URL or the credentials route) ' +
      'first, then by weight (higher first), load and probe RTT',
  ),
  TURN_EMBEDDED: key(
    bool,
    'run the bundled relay with signaling (its own process under `npm start`, restarted on its own)',
    { default: 'true' },
  ),
  TURN_EMBEDDED_REGION: key(
    z.string().regex(REGION_PATTERN, 'must be 1-32 of A-Z a-z 0-9 . _ -'),
    'region label of the bundled relay, matched against client region hints',
    { defaultText: 'none: matches no hint' },
  ),
  TURN_PROBE_INTERVAL_MS: key(
    int(0, 3600000),
    'how often each TURN_SERVERS relay gets a health probe (STUN Binding over UDP; TCP connect for turns: and transport=tcp); 0 turns probing off',
    { default: String(REGISTRY_DEFAULTS.probeIntervalMs) },
  ),
  TURN_PROBE_TIMEOUT_MS: key(
    int(10, 600000),
    'how long a probe waits for its answer, ms; must be below TURN_PROBE_INTERVAL_MS',
    { default: String(REGISTRY_DEFAULTS.probeTimeoutMs) },
  ),
  TURN_PROBE_FAILURES: key(
    int(1, 100),
    'consecutive missed probes before a relay leaves the ICE server list (one answered probe brings it back)',
    { default: String(REGISTRY_DEFAULTS.failureThreshold) },
  ),
  TURN_EXTERNAL_IP: key(
    z.string().transform((v, ctx) => {
      try {
        const mappings = parseExternalIps(v);
        // The URL names one address: the first public IPv4 one, as most clients reach IPv4 first.
        return (mappings.find((m) => !m.external.includes(':')) ?? mappings[0])?.external;
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return undefined;
      }
    }),
    'public address of the bundled relay put in ICE URLs and relayed addresses (a bare address, or public/private pairs as coturn takes them)',
    { defaultText: 'the host the client connected to' },
  ),
  REDIS_URL: key(
    z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }),
    'run the room bus on Redis (redis://host:port) so several instances serve one room',
    { defaultText: 'none: rooms in memory, one instance' },
  ),
  REDIS_CLUSTER_NODES: key(
    csv.pipe(
      z
        .array(
          z
            .string()
            .regex(
              /^(rediss?:\/\/\S+|[A-Za-z0-9.-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5})$/,
              'each entry must be host:port or a redis:// or rediss:// URL',
            ),
        )
        .min(1, 'must name at least one node (host:port, comma-separated)'),
    ),
    'run the room bus on a Redis Cluster (Redis 7+): seed nodes, host:port comma-separated; the rest are discovered. Instead of REDIS_URL',
    { defaultText: 'none' },
  ),
  REDIS_PREFIX: key(
    z.string().regex(/^[\w:.-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ : . -'),
    'prefix of Redis keys and channels',
    {
      default: 'rp:',
    },
  ),
  PRESENCE_TTL_MS: key(int(300, 600000), 'with Redis: how soon the members of a dead instance are noticed', {
    default: '15000',
  }),
  DEV_TOKENS: key(
    bool,
    'enable GET /dev/token (never in production); on by itself only with a generated JWT secret',
    { defaultText: 'true when JWT_SECRET is generated' },
  ),
} as const;

type Env = typeof signalingEnv;

export interface SignalingConfig {
  production: boolean;
  port: number;
  host: string;
  /** The admin API's listener, or null for none. */
  admin: { port: number; host: string } | null;
  nodeId: string;
  logLevel: z.output<Env['LOG_LEVEL']['schema']>;
  /**
   * The metrics listener of /metrics: a port of its own (null: /metrics on the public port, the development
   * default) and its interface.
   */
  metrics: { port: number | null; host: string };
  /** Whether POST /v1/telemetry takes the SDK's call-setup reports. */
  clientTelemetry: boolean;
  jwt: {
    /** HS256 secret or PEM public key; the algorithm list is pinned to the key's kind. */
    key: string;
    algorithms: Array<'HS256' | 'RS256' | 'ES256'>;
    audience: string;
    issuer: string;
    clockSkewSec: number;
    /** Verified tokens remembered (`auth/token-verifier.ts`), entries; 0 turns the cache off. */
    cacheSize: number;
    /** True when the secret was generated at start (development default). */
    generated: boolean;
  };
  /** null means the default policy (same origin, plus localhost in development). */
  allowedOrigins: string[] | null;
  trustProxy: boolean;
  limits: {
    maxMessageBytes: number;
    ratePerSecond: number;
    rateBurst: number;
    maxConnections: number;
    maxConnectionsPerIp: number;
    roomSize: number;
    maxBufferedBytes: number;
  };
  heartbeatIntervalMs: number;
  drainTimeoutMs: number;
  /** ms over which a drain spreads its clients' reconnects (DRAIN_SPREAD_MS). */
  drainSpreadMs: number;
  /** New connections per instance: sustained per second, at once, and the longest Retry-After (s). */
  admission: { ratePerSecond: number; burst: number; maxRetryAfterSec: number };
  resumeWindowMs: number;
  turn: {
    secrets: string[];
    secretsGenerated: boolean;
    credentialTtlSec: number;
    /** External relays from TURN_SERVERS, in configuration order. */
    servers: RelaySpec[];
    embedded: boolean;
    /** Region label of the bundled relay. */
    embeddedRegion: string | undefined;
    externalIp: string | undefined;
    probe: { intervalMs: number; timeoutMs: number; failureThreshold: number };
  };
  devTokens: boolean;
  /** The Redis bus: a single Redis (`url`) or a cluster (`clusterNodes`); null keeps rooms in memory. */
  redis: { url?: string; clusterNodes?: string[]; prefix: string; presenceTtlMs: number } | null;
}

export type SignalingConfigOverrides = {
  [K in keyof SignalingConfig]?: Partial<SignalingConfig[K]> | SignalingConfig[K];
};

/** Validate the environment. Throws ConfigError naming the first bad key. */
export function loadSignalingConfig(env: NodeJS.ProcessEnv = process.env): SignalingConfig {
  const e = loadEnvTable(signalingEnv, env);
  const production = e.NODE_ENV === 'production';
  if (e.JWT_SECRET) requireRealSecrets('JWT_SECRET', [e.JWT_SECRET], 32, production);
  requireRealSecrets('TURN_SECRETS', e.TURN_SECRETS ?? [], MIN_TURN_SECRET_LENGTH, production);
  if (production && !e.JWT_SECRET && !e.JWT_PUBLIC_KEY) {
    throw new ConfigError('JWT_SECRET', 'required when NODE_ENV=production (or set JWT_PUBLIC_KEY)');
  }
  if (
    production &&
    (e.TURN_SECRETS ?? []).length === 0 &&
    (e.TURN_EMBEDDED || (e.TURN_SERVERS ?? []).length > 0)
  ) {
    throw new ConfigError('TURN_SECRETS', 'required when NODE_ENV=production');
  }
  if (production && e.DEV_TOKENS)
    throw new ConfigError('DEV_TOKENS', 'the dev token route is never enabled in production');
  if (e.JWT_SECRET && e.JWT_PUBLIC_KEY)
    throw new ConfigError('JWT_PUBLIC_KEY', 'set either JWT_SECRET or JWT_PUBLIC_KEY, not both');
  const relays: RelaySpec[] = [];
  for (const entry of e.TURN_SERVERS ?? []) {
    const parsed = parseRelaySpec(entry);
    if (!parsed.ok) throw new ConfigError('TURN_SERVERS', parsed.reason);
    relays.push(parsed.spec);
  }
  if (e.TURN_PROBE_INTERVAL_MS! > 0 && e.TURN_PROBE_INTERVAL_MS! < 100)
    throw new ConfigError('TURN_PROBE_INTERVAL_MS', 'must be 0 (off) or at least 100');
  if (e.TURN_PROBE_INTERVAL_MS! > 0 && e.TURN_PROBE_TIMEOUT_MS! >= e.TURN_PROBE_INTERVAL_MS!)
    throw new ConfigError('TURN_PROBE_TIMEOUT_MS', 'must be shorter than TURN_PROBE_INTERVAL_MS');
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES)
    throw new ConfigError('REDIS_CLUSTER_NODES', 'set either REDIS_URL or REDIS_CLUSTER_NODES, not both');
  if ((e.RATE_LIMIT_BURST ?? 1) < 1) throw new ConfigError('RATE_LIMIT_BURST', 'must be at least 1');

  const jwtGenerated = !e.JWT_SECRET && !e.JWT_PUBLIC_KEY;
  const turnSecrets =
    e.TURN_SECRETS && e.TURN_SECRETS.length > 0 ? e.TURN_SECRETS : [randomBytes(24).toString('base64url')];
  return {
    production,
    port: e.PORT!,
    host: e.HOST!,
    admin: e.ADMIN_PORT !== undefined ? { port: e.ADMIN_PORT, host: e.ADMIN_HOST! } : null,
    nodeId: e.NODE_ID ?? `${hostname().slice(0, 40)}-${randomBytes(3).toString('hex')}`,
    logLevel: e.LOG_LEVEL!,
    metrics: {
      port: e.METRICS_PORT ?? (production ? DEFAULT_METRICS_PORT : null),
      host: e.METRICS_HOST ?? e.HOST!,
    },
    clientTelemetry: e.CLIENT_TELEMETRY!,
    jwt: {
      key: e.JWT_PUBLIC_KEY ?? e.JWT_SECRET ?? randomBytes(32).toString('base64url'),
      algorithms: e.JWT_PUBLIC_KEY ? ['RS256', 'ES256'] : ['HS256'],
      audience: e.JWT_AUDIENCE!,
      issuer: e.JWT_ISSUER!,
      clockSkewSec: e.JWT_CLOCK_SKEW_S!,
      cacheSize: e.JWT_CACHE_SIZE!,
      generated: jwtGenerated,
    },
    allowedOrigins: e.ALLOWED_ORIGINS && e.ALLOWED_ORIGINS.length > 0 ? e.ALLOWED_ORIGINS : null,
    trustProxy: e.TRUST_PROXY!,
    limits: {
      maxMessageBytes: e.MAX_MESSAGE_BYTES!,
      ratePerSecond: e.RATE_LIMIT_PER_S!,
      rateBurst: e.RATE_LIMIT_BURST!,
      maxConnections: e.MAX_CONNECTIONS!,
      maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP!,
      roomSize: e.ROOM_SIZE_MAX!,
      maxBufferedBytes: e.MAX_BUFFERED_BYTES!,
    },
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS!,
    drainTimeoutMs: e.DRAIN_TIMEOUT_MS!,
    drainSpreadMs: e.DRAIN_SPREAD_MS!,
    admission: {
      ratePerSecond: e.ADMISSION_RATE_PER_S!,
      burst: e.ADMISSION_BURST!,
      maxRetryAfterSec: e.ADMISSION_MAX_RETRY_AFTER_S!,
    },
    resumeWindowMs: e.RESUME_WINDOW_MS!,
    turn: {
      secrets: turnSecrets,
      secretsGenerated: !e.TURN_SECRETS || e.TURN_SECRETS.length === 0,
      credentialTtlSec: e.TURN_CREDENTIAL_TTL_S!,
      servers: relays,
      embedded: e.TURN_EMBEDDED!,
      embeddedRegion: e.TURN_EMBEDDED_REGION,
      externalIp: e.TURN_EXTERNAL_IP,
      probe: {
        intervalMs: e.TURN_PROBE_INTERVAL_MS!,
        timeoutMs: e.TURN_PROBE_TIMEOUT_MS!,
        failureThreshold: e.TURN_PROBE_FAILURES!,
      },
    },
    // With a real secret the route would mint real tokens for anyone: only an explicit DEV_TOKENS=true
    // turns it on then (main.ts logs that loudly).
    devTokens: e.DEV_TOKENS ?? (!production && jwtGenerated),
    redis: e.REDIS_CLUSTER_NODES
      ? { clusterNodes: e.REDIS_CLUSTER_NODES, prefix: e.REDIS_PREFIX!, presenceTtlMs: e.PRESENCE_TTL_MS! }
      : e.REDIS_URL
        ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX!, presenceTtlMs: e.PRESENCE_TTL_MS! }
        : null,
  };
}

/** Rows for `--help`: every key, its default and what it does. */
export function signalingEnvDocs(): EnvDoc[] {
  return envDocs(signalingEnv);
}
