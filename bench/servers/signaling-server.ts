/**
 * Our signaling server as a bench target: limits raised so they measure the server, not its rate caps.
 * Arguments: JWT secret, then optionally a Redis URL, a node id and a key prefix (one instance of a
 * cluster, for the cross-instance figures in bench/cross-instance.ts).
 */
import { pino } from 'pino';
import { loadSignalingConfig } from '../../signaling/config.js';
import { RedisBus } from '../../signaling/rooms/redis-bus.js';
import { MAILBOX_SIZE, SignalingServer } from '../../signaling/server.js';

const [, , secret = '', redisUrl, nodeId, prefix] = process.argv;
const config = loadSignalingConfig({
  NODE_ENV: 'test',
  JWT_SECRET: secret,
  TURN_SECRETS: 'bench-turn-secret',
  TURN_EMBEDDED: 'false',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_PER_S: '1000000',
  RATE_LIMIT_BURST: '1000000',
  MAX_CONNECTIONS: '50000',
  MAX_CONNECTIONS_PER_IP: '50000',
  // Admission control (default 1 000/s) would cap the accepts figure and refuse the idle-memory load:
  // the bench measures what an instance can take, as the other limits above are raised for it.
  ADMISSION_RATE_PER_S: '1000000',
  ADMISSION_BURST: '1000000',
  ROOM_SIZE_MAX: '10000',
  MAX_BUFFERED_BYTES: String(64 << 20),
  ...(redisUrl ? { REDIS_URL: redisUrl, NODE_ID: nodeId ?? 'bench', REDIS_PREFIX: prefix ?? 'bench:' } : {}),
});
const logger = pino({ level: 'silent' });
// As signaling/main.ts builds it: the Redis bus when REDIS_URL is set, else the server's in-memory bus.
const bus = config.redis
  ? new RedisBus({
      ...config.redis,
      nodeId: config.nodeId,
      resumeWindowMs: config.resumeWindowMs,
      mailboxSize: MAILBOX_SIZE,
      log: logger,
    })
  : undefined;
await bus?.start();
const server = new SignalingServer(config, { logger, ...(bus ? { bus } : {}) });
const { port } = await server.listen();
process.stdout.write(`READY ${port}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
