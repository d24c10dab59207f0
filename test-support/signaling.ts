/** Start and stop real signaling servers on loopback port 0 for tests, and mint tokens for them. */
import { pino } from 'pino';
import { loadSignalingConfig } from '../signaling/config.js';
import { SignalingServer, WS_PATH, type SignalingServerDeps } from '../signaling/server.js';
import { mintDevToken } from '../signaling/auth/token-verifier.js';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';
export const TEST_TURN_SECRET = 'turn-test-secret';

export interface RunningSignaling {
  server: SignalingServer;
  wsUrl: string;
  httpUrl: string;
  token(userId: string, rooms: string[], extra?: { ttlSec?: number }): string;
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
  const server = new SignalingServer(config, { logger: pino({ level: 'silent' }), ...deps });
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
      }),
    close: () => server.close(),
  };
}
