/**
 * Real processes: three signaling instances (`signaling/main.ts`) on one redis-server. `kill -9` of one
 * mid-call: its peers reconnect to the others and resume with the same peer ids within the resume window,
 * and the rest of the room sees no peer-left for them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintDevToken } from '../auth/token-verifier.js';
import { SIGNALING_STARTED, freeTcpPort, startScript, type Proc } from '../../test-support/processes.js';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { TEST_JWT_SECRET } from '../../test-support/signaling.js';
import { hasTool } from '../../test-support/tools.js';
import { TestClient } from '../../test-support/ws-client.js';

const available = hasTool('redis-server');
let redis: RedisServer;
const procs: Proc[] = [];
const ports: number[] = [];
const token = (user: string) =>
  mintDevToken({
    secret: TEST_JWT_SECRET,
    userId: user,
    rooms: ['call'],
    audience: 'relay-platform',
    issuer: 'relay-platform',
    ttlSec: 600,
  });

beforeAll(async () => {
  if (!available) return;
  redis = (await startRedis())!;
  for (let i = 0; i < 3; i++) {
    const port = await freeTcpPort();
    const p = startScript('signaling/main.ts', [], {
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_ID: `inst-${i}`,
      REDIS_URL: redis.url,
      REDIS_PREFIX: 'failover:',
      PRESENCE_TTL_MS: '900',
      RESUME_WINDOW_MS: '15000',
      JWT_SECRET: TEST_JWT_SECRET,
      TURN_SECRETS: 'failover-turn-secret',
      TURN_EMBEDDED: 'false',
      LOG_LEVEL: 'info',
    });
    procs.push(p);
    ports.push(port);
  }
  await Promise.all(procs.map((p) => p.waitFor(SIGNALING_STARTED, 30_000)));
}, 60_000);
afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  await redis?.stop();
});

describe.skipIf(!available)('instance failure', () => {
  it(
    'kill -9 of one instance: its peers resume elsewhere with the same ids, nobody sees them leave',
    { timeout: 60_000 },
    async () => {
      const url = (i: number) => `ws://127.0.0.1:${ports[i]!}/v1/ws`;
      const peers = [];
      for (let i = 0; i < 6; i++) {
        const c = await TestClient.connect(url(i % 3), { token: token(`u${i}`) });
        peers.push({ c, w: await c.join('call'), user: `u${i}`, instance: i % 3 });
      }
      for (const [i, p] of peers.entries())
        await expect.poll(() => p.c.all('peer-joined').length, { timeout: 15_000 }).toBe(5 - i);

      procs[2]!.kill('SIGKILL');
      expect((await procs[2]!.exited).signal).toBe('SIGKILL');
      const victims = peers.filter((p) => p.instance === 2);
      for (const v of victims) expect((await v.c.closed).code).toBe(1006);
      // Meanwhile a survivor signals a victim: the message waits in its mailbox.
      peers[0]!.c.send({
        type: 'signal',
        to: victims[0]!.w.peerId,
        signal: { type: 'offer', sdp: 'during-outage' },
      });

      const live = new Map(peers.map((p) => [p.w.peerId, p.c]));
      for (const [k, v] of victims.entries()) {
        const c = await TestClient.connect(url(k % 2), { token: token(v.user) });
        const w = await c.join('call', { resume: { sessionId: v.w.sessionId, peerId: v.w.peerId } });
        expect(w).toMatchObject({ peerId: v.w.peerId, resumed: true });
        expect(w.members).toHaveLength(5);
        live.set(v.w.peerId, c);
      }
      expect((await live.get(victims[0]!.w.peerId)!.next('signal', 5000)).signal).toEqual({
        type: 'offer',
        sdp: 'during-outage',
      });

      await new Promise((r) => setTimeout(r, 3000)); // several presence periods: a dead instance is noticed
      for (const p of peers.filter((x) => x.instance !== 2)) expect(p.c.all('peer-left')).toEqual([]);
      // Every pair still reaches each other.
      const ids = [...live.keys()];
      for (const from of ids)
        for (const to of ids)
          if (from !== to) live.get(from)!.send({ type: 'data', to, payload: `${from}>${to}` });
      for (const id of ids) {
        await expect
          .poll(
            () =>
              live
                .get(id)!
                .all('data')
                .filter((d) => d.payload.endsWith(`>${id}`)).length,
            { timeout: 5000 },
          )
          .toBe(5);
      }
      await Promise.all([...live.values()].map((c) => c.close()));
    },
  );
});
