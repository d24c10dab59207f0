/**
 * The relay on several worker threads, over real sockets, on both ways workers share the listening port:
 * SO_REUSEPORT where Node has it (22.12 and later; CI's Node 26) and the primary's handoff everywhere
 * (forced by TURN_WORKER_MODE's option here; the only way on Node 20). Many clients, each its own 5-tuple,
 * allocate and relay both ways, so each reached the worker that owns its allocation; the quotas hold over
 * every worker together; a revocation reaches every worker; the figures are the workers' sum; TCP and TLS
 * still work; closing frees every port.
 */
import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient, udpSocket, until } from '../../test-support/turn-client.js';
import { mintTurnCredential, type TurnCredential } from '../credentials/rest-credentials.js';
import { nodeHasReusePort } from '../config.js';
import { inProcessRelayControl } from './relay-control.js';
import { WorkerRelay, reusePortAvailable, type MultiRelayOptions } from './relay-workers.js';

const defer = closeAfterEach();
const SECRET = 'workers-secret';
const mint = (userId: string) => mintTurnCredential({ secret: SECRET, userId, ttlSeconds: 600 });

async function relay(mode: 'auto' | 'handoff', own: Partial<MultiRelayOptions> = {}): Promise<WorkerRelay> {
  const r = await WorkerRelay.start({
    ...testRelayOptions({
      realm: 'workers.test',
      secrets: [SECRET],
      minPort: 38000,
      maxPort: 38999,
      hosts: ['127.0.0.1'],
      userQuota: 100,
    }),
    workers: 2,
    workerMode: mode,
    ...own,
  });
  return defer(r, (x) => x.close());
}

async function client(
  r: WorkerRelay,
  user: string | TurnCredential,
  transport: 'udp' | 'tcp' = 'udp',
): Promise<TurnClient> {
  const { username, credential } = typeof user === 'string' ? mint(user) : user;
  const server = { host: '127.0.0.1', port: r.address.port };
  const c =
    transport === 'udp'
      ? await TurnClient.connect(server, username, credential)
      : await TurnClient.connectStream(server, username, credential, { transport });
  return defer(c, (x) => x.close());
}

/** A channel from `c` to a fresh peer, proven to relay both ways. */
async function relaysBothWays(c: TurnClient): Promise<void> {
  const peer = defer(await udpSocket(), (s) => s.close());
  const atPeer: Buffer[] = [];
  peer.on('message', (m: Buffer) => atPeer.push(m));
  expect((await c.channelBind(0x4000, { address: '127.0.0.1', port: peer.address().port })).code).toBe(0);
  c.sendChannel(0x4000, Buffer.from('to peer'));
  peer.send(Buffer.from('to client'), c.relayed!.port, '127.0.0.1');
  expect(await until(() => atPeer.length === 1 && c.received.length === 1)).toBe(true);
  expect(String(atPeer[0])).toBe('to peer');
  expect(String(c.received[0]!.data)).toBe('to client');
}

const modes: Array<'auto' | 'handoff'> = ['auto', 'handoff'];

describe.each(modes)('relay on 2 workers, mode %s', (mode) => {
  it('takes SO_REUSEPORT where Node has it, the handoff elsewhere or when asked', async () => {
    const r = await relay(mode);
    const expected = mode === 'auto' && (await reusePortAvailable()) ? 'reuse-port' : 'handoff';
    expect(r.mode).toBe(expected);
    // Node 22.12+ on Linux has it; CI's Node 26 so tests the reuse-port path, its Node 20 the handoff.
    expect(await reusePortAvailable()).toBe(nodeHasReusePort());
  });

  it('relays for many clients, each reaching the worker that owns its allocation', async () => {
    const r = await relay(mode);
    const clients = await Promise.all(Array.from({ length: 16 }, (_, i) => client(r, `u${i}`)));
    for (const c of clients) expect((await c.allocate()).code).toBe(0);
    await Promise.all(clients.map((c) => relaysBothWays(c)));
    // Both workers own some: 16 clients on one worker would be a 1 in 32 768 chance of the hash.
    await r.refreshStats();
    const per = r.workerStats().map((s) => s?.allocations ?? 0);
    expect(per.reduce((a, b) => a + b, 0)).toBe(16);
    expect(per.every((n) => n > 0)).toBe(true);
    const sum = r.stats();
    expect(sum.allocations).toBe(16);
    expect(sum.counters.allocate.get('success')).toBe(16);
    expect(sum.counters.packetsToPeer).toBe(16);
    expect(sum.counters.packetsToClient).toBe(16);
  });

  it('holds the user quota and the total quota over every worker together', async () => {
    const r = await relay(mode, { userQuota: 3, totalQuota: 5 });
    const same = await Promise.all(Array.from({ length: 8 }, () => client(r, 'greedy')));
    const codes = await Promise.all(same.map(async (c) => (await c.allocate()).code));
    expect(codes.filter((c) => c === 0)).toHaveLength(3);
    expect(codes.filter((c) => c === 486)).toHaveLength(5);
    const others = await Promise.all(Array.from({ length: 6 }, (_, i) => client(r, `other${i}`)));
    const rest = await Promise.all(others.map(async (c) => (await c.allocate()).code));
    expect(rest.filter((c) => c === 0)).toHaveLength(2);
    expect(rest.filter((c) => c === 508)).toHaveLength(4);
    // An allocation that ends gives its unit back, whichever worker held it.
    const owner = same[codes.indexOf(0)]!;
    expect((await owner.refresh(0)).code).toBe(0);
    const again = await client(r, 'late');
    expect((await again.allocate()).code).toBe(0);
  });

  it('revokes a user on every worker', async () => {
    const r = await relay(mode);
    const old = mint('mallory');
    const mallory = await Promise.all(Array.from({ length: 8 }, () => client(r, old)));
    for (const c of mallory) expect((await c.allocate()).code).toBe(0);
    const alice = await client(r, 'alice');
    expect((await alice.allocate()).code).toBe(0);
    await r.refreshStats();
    expect(r.workerStats().every((s) => (s?.allocations ?? 0) > 0)).toBe(true);

    inProcessRelayControl(r).revokeUser('mallory', old.expiresAt);
    expect(await until(async () => (await r.refreshStats()).allocations === 1, 2000)).toBe(true);
    expect(r.stats().counters.revocations).toBe(2); // counted once by each worker
    // The old credential is refused on every worker: fresh 5-tuples land on both.
    const retry = await Promise.all(Array.from({ length: 8 }, () => client(r, old)));
    for (const c of retry) expect((await c.allocate()).code).toBe(401);
    await relaysBothWays(alice);
  });

  it('serves TURN over TCP beside UDP', async () => {
    const r = await relay(mode);
    const c = await client(r, 'streamer', 'tcp');
    expect((await c.allocate()).code).toBe(0);
    await relaysBothWays(c);
  });

  it('frees its listening port and relay ports when closed', async () => {
    const r = await relay(mode);
    const c = await client(r, 'leaver');
    expect((await c.allocate()).code).toBe(0);
    const relayed = c.relayed!.port;
    await r.close();
    for (const port of [r.address.port, relayed]) {
      const s = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, '127.0.0.1', () => resolve());
      });
      s.close();
    }
  });
});
