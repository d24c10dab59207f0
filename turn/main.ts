/**
 * `npm run start:turn`: the bundled relay alone, for operators running a relay fleet. Configured by the
 * same TURN_* variables as the relay `npm start` embeds; serves /healthz and /metrics on TURN_METRICS_PORT.
 */
import { createServer } from 'node:http';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError, loadTurnConfig, turnEnvDocs, type TurnConfig } from './config.js';
import { registerRelayMetrics } from './relay/relay-metrics.js';
import { startRelay } from './relay/start-relay.js';

function help(): string {
  const width = Math.max(...turnEnvDocs.map((d) => d.key.length));
  return [
    'Usage: npm run start:turn   (or: tsx turn/main.ts [--help])',
    '',
    'Runs the bundled STUN/TURN relay. Configuration is by environment:',
    '',
    ...turnEnvDocs.map(
      (d) => `  ${d.key.padEnd(width)}  ${d.description}\n  ${' '.repeat(width)}  default: ${d.default}`,
    ),
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help());
    return;
  }
  let config: TurnConfig;
  try {
    config = loadTurnConfig(process.env);
    if (config.secrets.length === 0)
      throw new ConfigError('TURN_SECRETS', 'required: the relay accepts only TURN REST API credentials');
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error: ${err.message}\n(see --help)\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const logger = pino({ base: { component: 'turn' } });
  const relay = await startRelay({ ...config, logger });
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
  await new Promise<void>((resolve) => http.listen(config.metricsPort, resolve));
  logger.info({ port: relay.address.port, metricsPort: config.metricsPort }, 'relay started');

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
