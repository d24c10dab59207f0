/** Start and stop real signaling servers on loopback port 0 for tests, and mint tokens for them. */
import { pino } from 'pino';
import { loadSignalingConfig } from '../signaling/config.js';
import { MAILBOX_SIZE, SignalingServer, WS_PATH, type SignalingServerDeps } from '../signaling/server.js';
import { RedisBus } from '../signaling/rooms/redis-bus.js';
import { mintDevToken } from '../signaling/auth/token-verifier.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';
export const TEST_TURN_SECRET = 'turn-test-secret';

export interface RunningSignaling {
  server: SignalingServer;
  wsUrl: string;
  httpUrl: string;
  token(
    userId: string,
    rooms: string[],
    extra?: { ttlSec?: number; issuedAt?: number; claims?: Record<string, unknown> },
  ): string;
  /** Where the admin API listens (ADMIN_PORT set), e.g. http://127.0.0.1:1234; else null. */
  adminUrl: string | null;
  close(): Promise<void>;
}

export async function startSignaling(
  env: Record<string, string> = {},
  deps: SignalingServerDeps = {},
): Promise<RunningSignaling> {
  const config = loadSignalingConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    TURN_SECRETS: TEST_TURN_SECRET,
    TURN_EMBEDDED: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const logger = pino({ level: 'silent' });
  let bus = deps.bus;
  if (!bus && config.redis) {
    const redis = new RedisBus({
      ...config.redis,
      nodeId: config.nodeId,
      resumeWindowMs: config.resumeWindowMs,
      mailboxSize: MAILBOX_SIZE,
      log: logger,
      ...(deps.clock ? { clock: deps.clock } : {}),
    });
    await redis.start();
    bus = redis;
  }
  const server = new SignalingServer(config, { logger, ...deps, ...(bus ? { bus } : {}) });
  const { port } = await server.listen();
  return {
    server,
    wsUrl: `ws://127.0.0.1:${port}${WS_PATH}`,
    httpUrl: `http://127.0.0.1:${port}`,
    token: (userId, rooms, extra = {}) =>
      mintDevToken({
        secret: TEST_JWT_SECRET,
        userId,
        rooms,
        audience: config.jwt.audience,
        issuer: config.jwt.issuer,
        ttlSec: extra.ttlSec ?? 600,
        ...(extra.issuedAt !== undefined ? { issuedAt: extra.issuedAt } : {}),
        ...(extra.claims ? { claims: extra.claims } : {}),
      }),
    adminUrl: server.adminAddress() ? `http://127.0.0.1:${server.adminAddress()!.port}` : null,
    close: () => server.close(),
  };
}
