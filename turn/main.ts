/**
 * `npm run start:turn`: the bundled relay alone, for operators running a relay fleet. Configured by the
 * same TURN_* variables as the relay `npm start` embeds, with the same development default (a TURN secret
 * generated for the run, loopback and private peers allowed); serves /healthz and /metrics on its admin
 * listener (TURN_METRICS_HOST:TURN_METRICS_PORT). Exits 2 on a configuration error or a port in use,
 * naming the variable.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { formatHelp, reportConfigError as configError } from '../config/env-table.js';
import { listenFailure } from '../config/listen-errors.js';
import {
  ConfigError,
  loadTurnConfig,
  relayListenTargets,
  turnEnvDocs,
  withDevelopmentDefaults,
} from './config.js';
import { registerRelayMetrics } from './relay/relay-metrics.js';
import { startRelay } from './relay/start-relay.js';
import type { Relay } from './relay/relay.js';

const help = () =>
  formatHelp(
    [
      'Usage: npm run start:turn   (or: node dist/turn/main.js [--help])',
      '',
      'Runs the bundled STUN/TURN relay. With nothing set it runs the development default (a TURN secret',
      'generated for the run and printed). Configuration is by environment:',
    ],
    turnEnvDocs,
  );

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return;
  }
  let config: ReturnType<typeof withDevelopmentDefaults>;
  try {
    config = withDevelopmentDefaults(loadTurnConfig(process.env));
  } catch (err) {
    if (err instanceof ConfigError) return configError(err);
    throw err;
  }
  const logger = pino({ base: { component: 'turn' } });
  if (config.secretGenerated) {
    // The development default: whoever mints credentials for this relay needs the secret.
    process.stderr.write(
      `  development default: generated TURN_SECRETS for this run: ${config.secrets[0] ?? ''}\n` +
        '  (the relay may reach loopback and private peers; set NODE_ENV=production for a real deployment)\n',
    );
  }
  let relay: Relay;
  try {
    relay = await startRelay({ ...config, logger });
  } catch (err) {
    const named = listenFailure(err, relayListenTargets(config));
    if (named) return configError(named);
    throw err;
  }
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerRelayMetrics(registry, relay);
  const http = createServer((req, res) => {
    if (req.url === '/healthz') {
      const { allocations } = relay.stats();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, allocations }));
    } else if (req.url === '/metrics') {
      void registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      });
    } else {
      res.writeHead(404).end();
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(config.metricsPort, config.metricsHost, resolve);
    });
  } catch (err) {
    await relay.close();
    const named = listenFailure(err, [{ key: 'TURN_METRICS_PORT', port: config.metricsPort }]);
    if (named) return configError(named);
    throw err;
  }
  logger.info(
    { port: relay.address.port, tlsPort: relay.address.tlsPort, metricsPort: config.metricsPort },
    'relay started',
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'stopping');
    http.close();
    relay
      .close()
      .then(() => logger.info('stopped'))
      .catch((err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
