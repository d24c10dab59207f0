/** Our signaling server as a bench target: limits raised so they measure the server, not its rate caps. */
import { pino } from 'pino';
import { loadSignalingConfig } from '../../signaling/config.js';
import { SignalingServer } from '../../signaling/server.js';

const config = loadSignalingConfig({
  NODE_ENV: 'test',
  JWT_SECRET: process.argv[2] ?? '',
  TURN_SECRETS: 'bench-turn-secret',
  TURN_EMBEDDED: 'false',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_PER_S: '1000000',
  RATE_LIMIT_BURST: '1000000',
  MAX_CONNECTIONS: '50000',
  MAX_CONNECTIONS_PER_IP: '50000',
  ROOM_SIZE_MAX: '10000',
  MAX_BUFFERED_BYTES: String(64 << 20),
});
const server = new SignalingServer(config, { logger: pino({ level: 'silent' }) });
const { port } = await server.listen();
process.stdout.write(`READY ${port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
