/**
 * Presence when an instance stalls, not dies: two signaling processes on one real redis-server, and the
 * one holding `a` is stopped (SIGSTOP, as a long GC pause, a CPU-starved host or a debugger would) for
 * longer than the presence TTL. The other instance's sweep takes `a` for dead and suspends its seat, so
 * what `b` sends meanwhile is queued. Once the stalled instance runs again, `a` gets what was queued and
 * everything after it, and is not timed out of its room when the resume window passes: it never left.
 */
import { spawn } from 'node:child_process';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type RedisServer } from '../../test-support/redis.js';
import { procToken, startSignalingProc, type SignalingProc } from '../../test-support/signaling-procs.js';
import { hasTool } from '../../test-support/tools.js';
import { TestClient } from '../../test-support/ws-client.js';
import { RedisKeys } from './redis-keys.js';

const available = hasTool('redis-server');
const PRESENCE_TTL_MS = 600;
const RESUME_WINDOW_MS = 2_500;
const PREFIX = 'stall:';

let redis: RedisServer;
const instances: SignalingProc[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  if (available) redis = (await startRedis())!;
}, 30_000);
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const i of instances) i.proc.kill('SIGCONT');
  await Promise.all(instances.map((i) => i.stop()));
  await redis?.stop();
}, 60_000);

/**
 * Stop `pid` for `ms`, by a detached shell that resumes it itself: a stopped process is never left behind,
 * even when this test is killed meanwhile.
 */
function stall(pid: number, ms: number): void {
  const child = spawn('sh', ['-c', `kill -STOP ${pid}; sleep ${ms / 1000}; kill -CONT ${pid}`], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

describe.skipIf(!available)('an instance that stalls past the presence TTL', () => {
  it('gets its members back: what was sent meanwhile arrives, and nobody is timed out of the room', async () => {
    for (const node of ['n0', 'n1'])
      instances.push(
        await startSignalingProc({
          REDIS_URL: redis.url,
          REDIS_PREFIX: PREFIX,
          NODE_ID: node,
          PRESENCE_TTL_MS: String(PRESENCE_TTL_MS),
          RESUME_WINDOW_MS: String(RESUME_WINDOW_MS),
        }),
      );
    const [n0, n1] = instances as [SignalingProc, SignalingProc];
    const a = await TestClient.connect(n0.wsUrl, { token: procToken('a', ['r']) });
    const b = await TestClient.connect(n1.wsUrl, { token: procToken('b', ['r']) });
    clients.push(a, b);
    const aId = (await a.join('r')).peerId;
    const bId = (await b.join('r')).peerId;
    await a.next('peer-joined');

    const inspect = createClient({ url: redis.url });
    await inspect.connect();
    const nodes = new RedisKeys(PREFIX).nodes('r');
    try {
      const holderOfA = () => inspect.hGet(nodes, aId);
      expect(await holderOfA()).toBe('n0');
      const send = (payload: string) => b.send({ type: 'data', to: aId, payload });
      const received = () => a.all('data').map((d) => d.payload);

      stall(n0.proc.child.pid!, 3 * PRESENCE_TTL_MS);
      // n1's sweep found n0's liveness gone: a's seat is suspended and its frames go to its mailbox.
      await expect.poll(holderOfA, { timeout: 5_000, interval: 50 }).toBe('');
      for (const payload of ['while-1', 'while-2', 'while-3']) send(payload);

      // n0 runs again: it reclaims a, and hands it what was queued.
      await expect.poll(holderOfA, { timeout: 5_000, interval: 50 }).toBe('n0');
      await expect.poll(received, { timeout: 5_000 }).toEqual(['while-1', 'while-2', 'while-3']);

      // Past the resume window of the suspension: a is still in the room, and reachable.
      await new Promise((r) => setTimeout(r, RESUME_WINDOW_MS + 2 * PRESENCE_TTL_MS));
      send('after');
      await expect.poll(received, { timeout: 5_000 }).toEqual(['while-1', 'while-2', 'while-3', 'after']);
      expect(await holderOfA()).toBe('n0');
      expect(b.all('peer-left')).toEqual([]);
      expect(a.all('peer-left')).toEqual([]);
      a.send({ type: 'data', to: bId, payload: 'back' });
      await expect.poll(() => b.all('data').map((d) => d.payload)).toEqual(['back']);
    } finally {
      await inspect.quit();
    }
  }, 60_000);
});
