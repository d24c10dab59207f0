/**
 * `npm start`: signaling, the bundled TURN relay and the demo page. With nothing configured it runs the
 * development default (secrets generated and printed, dev token route on). SIGTERM drains; Ctrl-C stops
 * everything cleanly; a second signal exits at once.
 *
 * With the bundled relay on (TURN_EMBEDDED, the default) this process is a small supervisor
 * (`supervisor.ts`) that runs the relay (`--role=relay`) and signaling (`--role=signaling`) as two child
 * processes of this same entry point and restarts each independently, so a signaling crash never takes
 * the relay and its relayed calls down. With TURN_EMBEDDED=false signaling runs in this process alone.
 */
import { pino, type Logger } from 'pino';
import { formatHelp, reportConfigError as configError } from '../config/env-table.js';
import { listenFailure } from '../config/listen-errors.js';
import { ConfigError, loadSignalingConfig, signalingEnvDocs, type SignalingConfig } from './config.js';
import { systemClock } from '../common/clock.js';
import { MemoryBus } from './rooms/memory-bus.js';
import { RedisBus } from './rooms/redis-bus.js';
import type { RoomBus } from './rooms/room-bus.js';
import { fetchKeptRevocations, reportRevocations } from './supervised-revocations.js';
import { MAILBOX_SIZE, SignalingServer, WS_PATH } from './server.js';
import { bundledTurnUrls } from './ice/ice-servers.js';
import { registryFromConfig } from './ice/registry-from-config.js';
import { loadTurnConfig, relayListenTargets, turnEnvDocs, withDevelopmentDefaults } from '../turn/config.js';
import { registerRelayMetrics } from '../turn/relay/relay-metrics.js';
import type { RelayAddress, RelayStats } from '../turn/relay/relay.js';
import { newCounters } from '../turn/relay/relay-metrics.js';
import { isRelayIpcMessage, runBundledRelay } from './bundled-relay-process.js';
import { runSupervisor } from './supervisor.js';
import { ipcRelayControl } from '../turn/relay/relay-control.js';

/** The bundled relay as signaling sees it from its own process: where it listens, and figures over IPC. */
interface BundledRelay {
  address: RelayAddress;
  stats(): RelayStats;
}

function bundledRelayOverIpc(address: RelayAddress): BundledRelay {
  let stats: RelayStats = {
    allocations: 0,
    allocationsByTransport: { udp: 0, tcp: 0, tls: 0 },
    relaySockets: 0,
    tcpConnections: 0,
    counters: newCounters(),
  };
  process.on('message', (m: unknown) => {
    if (isRelayIpcMessage(m) && m.type === 'relay-stats') stats = m.stats;
  });
  return { address, stats: () => stats };
}

/** `--relay=<json>`: where the supervisor's relay child listens (see supervisor.ts). */
function relayFlag(value: string | undefined): RelayAddress {
  const address = JSON.parse(value ?? 'null') as RelayAddress | null;
  if (typeof address?.port !== 'number') throw new Error('--role=signaling needs --relay=<address json>');
  return address;
}

/** `--name=value` from argv. */
function flag(argv: string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

function help(): string {
  const signaling = signalingEnvDocs();
  const rows = [...signaling, ...turnEnvDocs.filter((t) => !signaling.some((s) => s.key === t.key))];
  return formatHelp(
    [
      'Usage: npm start            (or: node dist/signaling/main.js [--help])',
      '',
      'Runs the signaling server, the bundled TURN relay and the demo. With nothing set it runs the',
      'development default. Configuration is by environment:',
    ],
    rows,
  );
}

/** The bundled relay's URLs as clients get them, and the addresses it listens on. */
function relayUrls(config: SignalingConfig, relay: BundledRelay): string[] {
  const host = config.turn.externalIp ?? 'localhost';
  return bundledTurnUrls(host.includes(':') ? `[${host}]` : host, relay.address);
}

function relayLines(config: SignalingConfig, relay: BundledRelay): string[] {
  const urls = relayUrls(config, relay);
  return [
    `  TURN relay:  ${urls.join('  ')}`,
    `               (bundled; listening on ${relay.address.addresses.join(', ')})`,
  ];
}

interface Generated {
  jwt: boolean;
  turn: boolean;
}

function banner(
  config: SignalingConfig,
  port: number,
  metricsUrl: string,
  relay: BundledRelay | null,
  generated: Generated,
): string {
  const base = `http://localhost:${port}`;
  const lines = [
    '',
    `  relay-platform signaling is up (${config.production ? 'production' : 'development default'})`,
    '',
    `  Demo:        ${base}/            (open it in two tabs)`,
    `  WebSocket:   ws://localhost:${port}${WS_PATH}?token=<jwt>`,
    `  Credentials: POST ${base}/v1/turn-credentials  (Authorization: Bearer <jwt>)`,
    `  Health:      ${base}/healthz  ${base}/readyz  ${metricsUrl}`,
    ...(relay ? relayLines(config, relay) : ['  TURN relay:  not embedded']),
  ];
  if (config.devTokens) {
    lines.push(
      '',
      '  DEVELOPMENT ONLY: a token route is enabled. Get a token with',
      `    curl '${base}/dev/token?room=demo&user=alice'`,
    );
  }
  if (!config.production && relay)
    lines.push('  DEVELOPMENT ONLY: the relay may reach loopback and private peers (TURN_ALLOWED_PEER_IPS).');
  if (generated.jwt) lines.push(`  Generated JWT_SECRET for this run: ${config.jwt.key}`);
  if (generated.turn) lines.push(`  Generated TURN_SECRETS for this run: ${config.turn.secrets[0] ?? ''}`);
  lines.push('', '  Ctrl-C stops everything.', '');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return;
  }
  let config: SignalingConfig;
  let turnConfig: ReturnType<typeof loadTurnConfig>;
  try {
    config = loadSignalingConfig(process.env);
    turnConfig = loadTurnConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) return configError(err);
    throw err;
  }
  const role = flag(argv, 'role');
  if (role === 'relay') {
    // Development default: the demo's relay-only mode relays between tabs on this machine or its LAN, so
    // the relay may reach loopback and private peers unless TURN_ALLOWED_PEER_IPS says otherwise. In
    // production the default deny policy stands. The secrets are signaling's (generated once by the
    // supervisor in development).
    const relayConfig = { ...withDevelopmentDefaults(turnConfig), secrets: config.turn.secrets };
    try {
      await runBundledRelay(relayConfig, config.logLevel);
    } catch (err) {
      const named = listenFailure(
        err,
        relayListenTargets(
          relayConfig,
          ', or set TURN_EMBEDDED=false to run signaling without the bundled relay and use that relay through TURN_SERVERS',
        ),
      );
      if (named) return configError(named);
      throw err;
    }
    return;
  }
  if (role === undefined && config.turn.embedded) {
    const supervisorLog = pino({ level: config.logLevel, base: { component: 'supervisor' } });
    // Generated once here and handed to both children, so every restart keeps them.
    const generated = [config.jwt.generated && 'jwt', config.turn.secretsGenerated && 'turn'].filter(Boolean);
    runSupervisor({
      env: {
        ...process.env,
        ...(config.jwt.generated ? { JWT_SECRET: config.jwt.key } : {}),
        // The child sees the generated secret as configured; the route follows the parent's decision.
        ...(config.devTokens ? { DEV_TOKENS: 'true' } : {}),
        TURN_SECRETS: config.turn.secrets.join(','),
      },
      signalingArgs: [`--generated=${generated.join(',')}`],
      log: (line) => supervisorLog.info(line),
    });
    return;
  }
  await runSignaling(config, turnConfig, role === 'signaling' ? relayFlag(flag(argv, 'relay')) : null, {
    jwt: config.jwt.generated || (flag(argv, 'generated') ?? '').includes('jwt'),
    turn: config.turn.secretsGenerated || (flag(argv, 'generated') ?? '').includes('turn'),
  });
}

/**
 * Say where everything is: a JSON log line always (what production and log collectors read), and the
 * human banner only in development on a terminal, where a person is reading.
 */
function announce(
  logger: Logger,
  config: SignalingConfig,
  port: number,
  metricsPort: number | null,
  relay: BundledRelay | null,
  generated: Generated,
): void {
  const metricsUrl = `http://localhost:${metricsPort ?? port}/metrics`;
  if (!config.production && process.stderr.isTTY) {
    process.stderr.write(banner(config, port, metricsUrl, relay, generated));
  } else if (!config.production) {
    logger.warn(
      { generatedSecrets: generated.jwt || generated.turn },
      'DEVELOPMENT default: dev token route on, secrets generated for this run, relay may reach private peers',
    );
  }
  // Last, so that whoever waits for it has seen everything above.
  logger.info(
    {
      port,
      metricsPort: metricsPort ?? port,
      turnUrls: relay ? relayUrls(config, relay) : [],
      devTokens: config.devTokens,
      pid: process.pid,
    },
    'signaling started',
  );
}

async function runSignaling(
  config: SignalingConfig,
  turnConfig: ReturnType<typeof loadTurnConfig>,
  relayAddress: RelayAddress | null,
  generated: Generated,
): Promise<void> {
  // JSON lines, always: the human banner (announce) is separate and only for a terminal in development.
  const logger = pino({ level: config.logLevel, base: { nodeId: config.nodeId } });
  const relay = relayAddress ? bundledRelayOverIpc(relayAddress) : null;
  let bus: RoomBus | undefined;
  if (config.redis) {
    const redis = new RedisBus({
      ...config.redis,
      nodeId: config.nodeId,
      resumeWindowMs: config.resumeWindowMs,
      mailboxSize: MAILBOX_SIZE,
      log: logger.child({ component: 'redis-bus' }),
    });
    await redis.start();
    bus = redis;
  } else if (relay) {
    // Under the supervisor without Redis: a restarted child must still refuse the users revoked before.
    const memory = new MemoryBus({
      nodeId: config.nodeId,
      resumeWindowMs: config.resumeWindowMs,
      mailboxSize: MAILBOX_SIZE,
      clock: systemClock,
    });
    for (const r of await fetchKeptRevocations()) await memory.revoke(r);
    reportRevocations((handler) => memory.onRevoked(handler));
    bus = memory;
  }
  // The bundled relay's load is the share of its allocation quota in use, so it sorts fairly against
  // relays of the same region and weight.
  const relays = registryFromConfig(config.turn, {
    bundled: relay ? relay.address : null,
    ...(relay ? { bundledLoad: () => relay.stats().allocations / turnConfig.totalQuota } : {}),
    log: logger.child({ component: 'relay-registry' }),
  });
  relays.start();
  const server = new SignalingServer(config, {
    logger,
    embeddedRelay: relay ? relay.address : null,
    relays,
    processMetrics: true,
    // Under the supervisor the relay is a sibling process: revocations and room addresses go over IPC.
    relayControl: relay ? ipcRelayControl() : null,
    ...(bus ? { bus } : {}),
  });
  // The embedded relay's figures are served on signaling's /metrics.
  if (relay) registerRelayMetrics(server.metrics.registry, relay);
  let port: number;
  try {
    ({ port } = await server.listen());
  } catch (err) {
    await server.close();
    await bus?.close();
    relays.close();
    const named = listenFailure(err, [
      { key: 'PORT', port: config.port },
      ...(config.metrics.port !== null ? [{ key: 'METRICS_PORT', port: config.metrics.port }] : []),
      ...(config.admin !== null ? [{ key: 'ADMIN_PORT', port: config.admin.port }] : []),
    ]);
    if (named) return configError(named);
    throw err;
  }
  announce(logger, config, port, server.metricsAddress()?.port ?? null, relay, generated);
  if (config.devTokens && !generated.jwt)
    logger.warn(
      'DEV_TOKENS=true with a configured JWT secret: GET /dev/token mints real tokens for any user and room',
    );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    // SIGTERM (orchestrators) drains for the configured time; Ctrl-C is a person waiting, so be brief.
    const timeout = signal === 'SIGTERM' ? config.drainTimeoutMs : Math.min(config.drainTimeoutMs, 1000);
    server
      .drain(timeout)
      .then(() => relays.close())
      .then(() => {
        logger.info('stopped');
        process.exitCode = 0;
        // The IPC channel to the supervisor would keep this process alive.
        if (process.connected) process.disconnect();
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Under the supervisor: if it is gone (killed), nobody restarts or stops us; drain and exit.
  if (relayAddress !== null) process.on('disconnect', () => stopping || stop('SIGTERM'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
