/**
 * Relay configuration: the table of every variable the relay reads, validated by the shared loader
 * (`config/env-table.ts`) that signaling's table uses too. The same names configure the standalone relay
 * (`npm run start:turn`) and the relay `npm start` embeds.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import {
  ConfigError,
  csv,
  envDocs,
  intIn,
  loadEnvTable,
  nodeEnv,
  port,
  type EnvDoc,
  type EnvKey,
} from '../config/env-table.js';
import { MIN_TURN_SECRET_LENGTH, requireRealSecrets } from '../config/secret-policy.js';
import { COTURN_HINT, type ListenTarget } from '../config/listen-errors.js';
import { parseCidr } from './peer-policy.js';
import { parseExternalIps, type ExternalMapping } from './relay/listen-addresses.js';
import type { RoomScopeMode } from './relay/room-scope.js';

export { ConfigError };

const positive = intIn(1, 2 ** 31 - 1);
const cidrs = z.string().transform((v, ctx) => {
  const list = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const c of list) {
    try {
      parseCidr(c);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a CIDR: ${c}` });
    }
  }
  return list;
});

/** Every variable the relay reads, with its default. */
const keys = {
  NODE_ENV: {
    schema: nodeEnv,
    default: 'development',
    description:
      'development: a TURN secret generated for the run and loopback/private peers allowed; production: neither',
  },
  TURN_PORT: {
    schema: port,
    default: '3478',
    description: 'STUN/TURN port, UDP and TCP (turn:host:port?transport=udp and ?transport=tcp)',
  },
  TURN_TLS_PORT: {
    schema: z.union([z.literal('off'), port]),
    default: '5349',
    description:
      'TURN over TLS port (443 reaches clients on networks that let only HTTPS out), or off; without TURN_TLS_CERT_FILE it serves a self-signed certificate made for the run in development, and is off in production',
  },
  TURN_TLS_CERT_FILE: {
    schema: z.string().min(1),
    description:
      'PEM certificate chain for TURN over TLS, reloaded when the file changes (with TURN_TLS_KEY_FILE)',
  },
  TURN_TLS_KEY_FILE: {
    schema: z.string().min(1),
    description:
      'PEM private key for TURN over TLS, reloaded when the file changes (with TURN_TLS_CERT_FILE)',
  },
  TURN_HOST: {
    schema: z.string().transform((v, ctx) => {
      const list = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (list.length === 0) ctx.addIssue({ code: 'custom', message: 'no address given' });
      for (const a of list)
        if (!isIP(a)) ctx.addIssue({ code: 'custom', message: `not an IP address: ${a}` });
      return list;
    }),
    default: '0.0.0.0,::',
    description:
      'local addresses the relay listens and relays on, comma-separated, one socket each so every answer leaves from the address the client contacted; 0.0.0.0 means every IPv4 address of this host, :: every IPv6 one',
  },
  TURN_SECRETS: {
    schema: csv,
    description: 'TURN REST API secrets, comma-separated: the first signs, all verify',
    defaultText: `generated in development; required in production, each at least ${MIN_TURN_SECRET_LENGTH} characters`,
    secret: true,
  },
  TURN_REALM: {
    schema: z.string().min(1).max(128),
    default: 'relay.local',
    description: 'long-term credential realm',
  },
  TURN_EXTERNAL_IP: {
    schema: z.string().transform((v, ctx) => {
      try {
        return parseExternalIps(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return [];
      }
    }),
    description:
      "public address advertised in relayed addresses behind NAT, as coturn's external-ip: a bare address, or public/private pairs, comma-separated (e.g. 203.0.113.7/10.0.0.5); loopback is never mapped",
  },
  TURN_MIN_PORT: { schema: port, default: '49152', description: 'lowest relay port' },
  TURN_MAX_PORT: { schema: port, default: '65535', description: 'highest relay port' },
  TURN_ALLOWED_PEER_IPS: {
    schema: cidrs,
    description: 'peer CIDRs allowed even where the default policy denies (e.g. 127.0.0.0/8 for local tests)',
    defaultText: 'none in production; loopback and private ranges in development',
  },
  TURN_DENIED_PEER_IPS: { schema: cidrs, description: 'extra peer CIDRs to deny' },
  /**
   * Why 64: libwebrtc allocates per peer connection, per TURN URL and per local network. Measured here:
   * 4 per link with the three URLs signaling hands out on a one-interface host (bench: mesh of 4 and 8),
   * so a relay-only peer in a mesh of 8 (7 links) holds 28; a laptop on Wi-Fi plus Ethernet or a VPN
   * doubles that to 56. 64 fits it with a little room for an ICE restart in flight, and still stops one
   * user id from holding more than about 6 % of the default total (coturn's default is unlimited).
   */
  TURN_USER_QUOTA: {
    schema: positive,
    default: '64',
    description:
      'allocations per user id (486 past it); 64 fits a relay-only peer in a mesh of 8 over UDP, TCP and TLS on two local networks',
  },
  TURN_TOTAL_QUOTA: { schema: positive, default: '1000', description: 'allocations in total' },
  /**
   * Why 200: libwebrtc opens one TCP and one TLS connection per peer connection and local network when
   * it is handed the bundled relay's three URLs, so a relay-only peer in a mesh of 8 holds 14 streams,
   * 28 on two networks. Behind one NAT address (an office, a carrier-grade NAT) 200 fits seven such
   * peers, or a whole mesh of 8 on one network each with room to spare, while one address can take at
   * most a tenth of the relay's 2 000 stream slots: it now needs ten addresses to starve everyone. An
   * IPv6 client is counted by its /64, which its network gives it whole.
   */
  TURN_MAX_STREAMS_PER_IP: {
    schema: positive,
    default: '200',
    description:
      'TURN-over-TCP/TLS connections one client address (IPv6: its /64) may hold at once, TCP and TLS together; more from it are closed at accept while others are served',
  },
  /**
   * No default here: the relay `npm start` embeds hears signaling's room announcements and turns scope on
   * when this is unset; the standalone relay (`npm run start:turn`) hears none and leaves it off.
   */
  TURN_ROOM_SCOPE: {
    schema: z.enum(['on', 'off', 'strict']),
    description:
      'room scope: on grants a room-bound credential permissions only toward addresses its room announced or its allocations on this relay use (403 otherwise), unscoped credentials unchanged; strict also refuses unscoped credentials; off. Unset: on for the relay npm start embeds, off for npm run start:turn',
  },
  TURN_ROOM_SCOPE_WAIT_MS: {
    schema: z.coerce.number().int().min(0).max(10_000),
    default: '1000',
    description:
      'how long a permission toward an address its room has not announced yet waits for the announcement before 403, ms',
  },
  TURN_MAX_LIFETIME: {
    schema: positive,
    default: '3600',
    description: 'longest allocation lifetime, seconds',
  },
  TURN_BANDWIDTH_BPS: {
    schema: positive,
    description: 'per-allocation relay bandwidth cap, bytes per second',
    defaultText: 'none',
  },
  /**
   * Why every core by default: one Node event loop relays about 90 000 packets/s; coturn runs one relay
   * thread per core, and so do we (relay-workers.ts). Why 1 on a Node without SO_REUSEPORT: there the
   * workers share the port through the main thread's handoff, which still makes every client-side
   * syscall itself and adds two thread hops per packet, so each packet costs more CPU than in one loop
   * (docs/BENCHMARKS.md); an operator who wants the extra throughput anyway sets TURN_WORKERS.
   */
  TURN_WORKERS: {
    schema: intIn(1, 256),
    description:
      'relay worker threads, each owning the allocations of the clients that reach it (a client always reaches the same one); 1 runs the relay in one event loop',
    defaultText:
      'the cores this process may use where Node has SO_REUSEPORT (22.12 and later, Linux); else 1',
  },
  TURN_WORKER_MODE: {
    schema: z.enum(['auto', 'handoff']),
    default: 'auto',
    description:
      'how workers share the listening port: auto uses SO_REUSEPORT where Node has it (22.12 and later, on Linux) and else handoff, where the main thread reads the port and hands each datagram to its worker; handoff forces the latter',
  },
  TURN_METRICS_PORT: {
    schema: port,
    default: '9641',
    description: 'standalone relay: metrics HTTP port of /healthz and /metrics (keep it off the internet)',
  },
  TURN_METRICS_HOST: {
    schema: z.string().refine((v) => isIP(v) !== 0, 'must be an IP address'),
    default: '0.0.0.0',
    description:
      'standalone relay: address of the metrics listener; on a host with a public address name its private one',
  },
} satisfies Record<string, EnvKey>;

export interface TurnConfig {
  /** NODE_ENV=production: no generated secret, no development peers, no self-signed TLS. */
  production: boolean;
  hosts: string[];
  port: number;
  /** TURN over TLS port, or null when TLS is off. */
  tlsPort: number | null;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  secrets: string[];
  realm: string;
  externalIps: ExternalMapping[];
  minPort: number;
  maxPort: number;
  allowedPeers: string[];
  deniedPeers: string[];
  userQuota: number;
  totalQuota: number;
  maxStreamsPerIp: number;
  /** Unset: the entry point decides (on when embedded by `npm start`, off standalone). */
  roomScope: RoomScopeMode | undefined;
  roomScopeWaitMs: number;
  maxLifetimeSec: number;
  bandwidthBps: number | undefined;
  metricsPort: number;
  metricsHost: string;
  /** Relay worker threads (TURN_WORKERS); 1 is one event loop. */
  workers: number;
  workerMode: 'auto' | 'handoff';
}

/** Every relay variable, exported for the infra test and `--help`. */
export const turnEnv = keys;

export const turnEnvDocs: EnvDoc[] = envDocs(keys);

/** Validate the relay's variables; throws ConfigError naming the first bad key. */
export function loadTurnConfig(env: NodeJS.ProcessEnv): TurnConfig {
  const v = loadEnvTable(keys, env);
  const production = v.NODE_ENV === 'production';
  requireRealSecrets('TURN_SECRETS', v.TURN_SECRETS ?? [], MIN_TURN_SECRET_LENGTH, production);
  const config: TurnConfig = {
    production,
    hosts: v.TURN_HOST as string[],
    port: v.TURN_PORT as number,
    tlsPort: v.TURN_TLS_PORT === 'off' ? null : (v.TURN_TLS_PORT as number),
    tlsCertFile: v.TURN_TLS_CERT_FILE,
    tlsKeyFile: v.TURN_TLS_KEY_FILE,
    secrets: v.TURN_SECRETS ?? [],
    realm: v.TURN_REALM as string,
    externalIps: v.TURN_EXTERNAL_IP ?? [],
    minPort: v.TURN_MIN_PORT as number,
    maxPort: v.TURN_MAX_PORT as number,
    allowedPeers: v.TURN_ALLOWED_PEER_IPS ?? [],
    deniedPeers: v.TURN_DENIED_PEER_IPS ?? [],
    userQuota: v.TURN_USER_QUOTA as number,
    totalQuota: v.TURN_TOTAL_QUOTA as number,
    maxStreamsPerIp: v.TURN_MAX_STREAMS_PER_IP as number,
    roomScope: v.TURN_ROOM_SCOPE,
    roomScopeWaitMs: v.TURN_ROOM_SCOPE_WAIT_MS as number,
    maxLifetimeSec: v.TURN_MAX_LIFETIME as number,
    bandwidthBps: v.TURN_BANDWIDTH_BPS,
    metricsPort: v.TURN_METRICS_PORT as number,
    metricsHost: v.TURN_METRICS_HOST as string,
    workers: v.TURN_WORKERS ?? (nodeHasReusePort() ? availableParallelism() : 1),
    workerMode: v.TURN_WORKER_MODE as 'auto' | 'handoff',
  };
  if ((config.tlsCertFile === undefined) !== (config.tlsKeyFile === undefined))
    throw new ConfigError(
      config.tlsCertFile ? 'TURN_TLS_KEY_FILE' : 'TURN_TLS_CERT_FILE',
      'TURN_TLS_CERT_FILE and TURN_TLS_KEY_FILE go together',
    );
  // A self-signed certificate is for trying things out: in production TLS needs the operator's own, and
  // handing clients a turns: URL they cannot verify would only cost them a failed handshake.
  if (production && config.tlsCertFile === undefined) config.tlsPort = null;
  if (config.minPort > config.maxPort)
    throw new ConfigError('TURN_MIN_PORT', 'must not exceed TURN_MAX_PORT');
  return config;
}

/** Whether this Node binds UDP with SO_REUSEPORT (`reusePort`: 22.12 and later, 23.1 and later; Linux). */
export function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return (
    process.platform === 'linux' &&
    (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12))
  );
}

/** Peers the development default lets the relay reach, so relay-only calls between tabs of one machine work. */
export const DEV_ALLOWED_PEERS = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/**
 * The development default of a relay process (`npm start`'s and `npm run start:turn`'s alike): a TURN
 * secret generated for the run when none is set, and loopback and private peers allowed unless
 * TURN_ALLOWED_PEER_IPS says otherwise. In production the config is returned as it is, and a missing
 * secret is an error: the relay accepts only TURN REST API credentials.
 */
export function withDevelopmentDefaults(config: TurnConfig): TurnConfig & { secretGenerated: boolean } {
  if (config.production) {
    if (config.secrets.length === 0)
      throw new ConfigError(
        'TURN_SECRETS',
        'required when NODE_ENV=production: the relay accepts only TURN REST API credentials',
      );
    return { ...config, secretGenerated: false };
  }
  const secretGenerated = config.secrets.length === 0;
  return {
    ...config,
    secrets: secretGenerated ? [randomBytes(24).toString('base64url')] : config.secrets,
    allowedPeers: config.allowedPeers.length > 0 ? config.allowedPeers : DEV_ALLOWED_PEERS,
    secretGenerated,
  };
}

/** The relay's ports by the variable that sets each, so a port in use is reported by its name. */
export function relayListenTargets(
  config: Pick<TurnConfig, 'port' | 'tlsPort'>,
  extraHint = '',
): ListenTarget[] {
  return [
    {
      key: 'TURN_PORT',
      port: config.port,
      ...(config.port === 3478 ? { hint: `${COTURN_HINT}${extraHint}` } : {}),
    },
    ...(config.tlsPort !== null ? [{ key: 'TURN_TLS_PORT', port: config.tlsPort }] : []),
  ];
}
