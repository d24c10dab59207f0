/**
 * The cross-instance bench targets against real processes and a real redis-server: ours (two signaling
 * instances on the Redis bus) and socket.io with its Redis adapter each start, carry one signal from a
 * client on instance A to a client on instance B, and stop, so the references cannot rot silently. No
 * speed is asserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { startRedis, type RedisServer } from '../test-support/redis.js';
import { hasTool } from '../test-support/tools.js';
import { startCluster } from './cross-instance.js';

const available = hasTool('redis-server');
const defer = closeAfterEach();
let redis: RedisServer;

beforeAll(async () => {
  if (available) redis = (await startRedis())!;
});
afterAll(async () => {
  await redis?.stop();
});

describe.skipIf(!available)('cross-instance bench targets', () => {
  for (const kind of ['ours', 'socketio'] as const) {
    it(`${kind}: a signal from instance A reaches instance B, and both instances stop`, async () => {
      const cluster = await startCluster(kind, redis.url);
      let stopped = false;
      defer(cluster, (c) => (stopped ? undefined : c.stop()));
      const [sender, receiver] = await cluster.pair('t');
      defer(sender, (c) => c.close());
      defer(receiver, (c) => c.close());
      expect(cluster.pids[0]).not.toBe(cluster.pids[1]);
      const got = new Promise<string>((resolve) => receiver.onSignal(resolve));
      sender.send(receiver.id, 'candidate:1 1 udp 1 127.0.0.1 9 typ host');
      expect(await got).toBe('candidate:1 1 udp 1 127.0.0.1 9 typ host');
      expect([...sender.problems, ...receiver.problems]).toEqual([]);
      await cluster.stop();
      stopped = true;
      for (const pid of cluster.pids) expect(() => process.kill(pid, 0)).toThrow();
    }, 60_000); // two server processes start under tsx: slow on a busy machine
  }
});
