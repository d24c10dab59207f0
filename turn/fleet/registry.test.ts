/**
 * The relay registry over real UDP and TCP on loopback, with a manual clock: probe timeouts and intervals
 * pass when the test says so, answers arrive when the socket delivers them.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test-support/sdk-fakes.js';
import { RelayRegistry, type RelayRegistryOptions, type RelayStatus } from './registry.js';
import { parseRelaySpec, type RelaySpec } from './relay-spec.js';
import { Attr, Method, StunClass, StunWriter, parseStun } from '../stun/message.js';

/**
 * A UDP socket on loopback that answers STUN Binding requests while `answering` (holding the answers
 * back while `hold`, until `release()`), and counts the requests.
 */
interface Responder {
  port: number;
  answering: boolean;
  hold: boolean;
  requests: number;
  release(): void;
  close(): Promise<void>;
}

async function responder(answering = true): Promise<Responder> {
  const socket: Socket = createSocket('udp4');
  const held: Array<() => void> = [];
  const r: Responder = {
    port: 0,
    answering,
    hold: false,
    requests: 0,
    release: () => held.splice(0).forEach((send) => send()),
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (buf, rinfo) => {
    const parsed = parseStun(buf);
    if (!parsed.ok || parsed.message.method !== Method.binding) return;
    r.requests++;
    if (!r.answering) return;
    const reply = new StunWriter(Method.binding, StunClass.success, parsed.message.transactionId)
      .addAddress(Attr.xorMappedAddress, { address: rinfo.address, port: rinfo.port, family: 'IPv4' })
      .build({ fingerprint: true });
    const send = () => socket.send(reply, rinfo.port, rinfo.address);
    if (r.hold) held.push(send);
    else send();
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  r.port = socket.address().port;
  return r;
}

const specOf = (entry: string): RelaySpec => {
  const r = parseRelaySpec(entry);
  if (!r.ok) throw new Error(r.reason);
  return r.spec;
};
const turnAt = (port: number, params = '') => `turn:127.0.0.1:${port}?transport=udp${params}`;
const ids = (relays: RelayStatus[]) => relays.map((r) => r.id);
const health = (reg: RelayRegistry) => Object.fromEntries(reg.list().map((r) => [r.id, r.healthy]));

/** Bound every wait: a probe that never settles fails the test here, not at the suite timeout. */
async function bounded<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

/** Answered probes per target port, from the registry's onProbe hook. */
type Answers = Map<number, number>;

function registry(options: Partial<RelayRegistryOptions> & { entries?: string[] }, clock = new FakeClock()) {
  const answers: Answers = new Map();
  const reg = new RelayRegistry({
    relays: (options.entries ?? []).map(specOf),
    probeIntervalMs: 1000,
    probeTimeoutMs: 200,
    clock,
    onProbe: (target, rtt) => {
      const port = Number(target.slice(target.lastIndexOf(':') + 1));
      if (rtt !== null) answers.set(port, (answers.get(port) ?? 0) + 1);
    },
    ...options,
  });
  cleanup.push(() => reg.close());
  return { reg, clock, answers };
}

/**
 * One round: the live responders' answers are in, then the probe timeout passes for the rest. Waiting for
 * the registry to have seen each answer keeps the fake timeout from racing a real datagram.
 */
async function round(
  { reg, clock, answers }: { reg: RelayRegistry; clock: FakeClock; answers: Answers },
  live: Responder[] = [],
): Promise<void> {
  const before = live.map((r) => answers.get(r.port) ?? 0);
  const done = reg.probeAll();
  await vi.waitFor(() => live.forEach((r, i) => expect(answers.get(r.port) ?? 0).toBe(before[i]! + 1)), {
    timeout: 5000,
  });
  await clock.advance(200);
  await bounded(done);
}

describe('RelayRegistry health', () => {
  it('starts healthy, leaves after two missed probes, returns after one answer', async () => {
    const live = await responder();
    const flaky = await responder(false);
    cleanup.push(
      () => live.close(),
      () => flaky.close(),
    );
    const changes: Array<[string, boolean]> = [];
    const r = registry({
      entries: [turnAt(live.port), turnAt(flaky.port)],
      onChange: (r) => changes.push([r.id, r.healthy]),
    });
    const { reg } = r;
    expect(health(reg)).toEqual({ [turnAt(live.port)]: true, [turnAt(flaky.port)]: true });

    await round(r, [live]);
    expect(health(reg)[turnAt(flaky.port)]).toBe(true); // one lost datagram is not an outage
    expect(reg.list().find((r) => r.id === turnAt(live.port))?.lastRtt).toBeGreaterThanOrEqual(0);

    await round(r, [live]);
    expect(health(reg)).toEqual({ [turnAt(live.port)]: true, [turnAt(flaky.port)]: false });
    expect(ids(reg.select())).toEqual([turnAt(live.port)]);
    expect(changes).toEqual([[turnAt(flaky.port), false]]);

    flaky.answering = true;
    await round(r, [live, flaky]);
    expect(ids(reg.select())).toEqual([turnAt(live.port), turnAt(flaky.port)]);
    expect(changes).toEqual([
      [turnAt(flaky.port), false],
      [turnAt(flaky.port), true],
    ]);
  });

  it('probes a host and port once for all its entries (turn: and stun: on one port share health)', async () => {
    const dead = await responder(false);
    cleanup.push(() => dead.close());
    const r = registry({
      entries: [turnAt(dead.port), `stun:127.0.0.1:${dead.port}`, turnAt(dead.port, ';region=eu')],
    });
    const { reg } = r;
    await round(r);
    await round(r);
    expect(dead.requests).toBe(2);
    expect(reg.list().map((r) => r.healthy)).toEqual([false, false, false]);
  });

  it('hands out every TURN relay when none is healthy, and judges STUN servers apart', async () => {
    const deadA = await responder(false);
    const deadB = await responder(false);
    const stun = await responder();
    cleanup.push(
      () => deadA.close(),
      () => deadB.close(),
      () => stun.close(),
    );
    const r = registry({
      entries: [turnAt(deadA.port), turnAt(deadB.port), `stun:127.0.0.1:${stun.port}`],
    });
    const { reg } = r;
    await round(r, [stun]);
    await round(r, [stun]);
    expect(reg.list().map((r) => r.healthy)).toEqual([false, false, true]);
    // No TURN relay is healthy, so both are still handed out; the healthy STUN server does not replace them.
    const handed = ids(reg.select());
    expect(handed.filter((id) => id.startsWith('turn:'))).toEqual([turnAt(deadA.port), turnAt(deadB.port)]);
    expect(handed).toContain(`stun:127.0.0.1:${stun.port}`);
  });

  it('keeps the bundled relay healthy and unprobed; with it present, dead external relays are left out', async () => {
    const dead = await responder(false);
    cleanup.push(() => dead.close());
    const r = registry({ entries: [turnAt(dead.port)], bundled: { port: 3478 } });
    const { reg } = r;
    await round(r);
    await round(r);
    expect(reg.list().map((r) => [r.id, r.healthy])).toEqual([
      ['bundled', true],
      [turnAt(dead.port), false],
    ]);
    expect(ids(reg.select())).toEqual(['bundled']);
  });

  it('probes turns: and transport=tcp relays with a TCP connect', async () => {
    const server: Server = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const open = (server.address() as { port: number }).port;
    const closedServer = createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const closed = (closedServer.address() as { port: number }).port;
    await new Promise((resolve) => closedServer.close(resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const r = registry({
      entries: [`turns:127.0.0.1:${open}`, `turn:127.0.0.1:${closed}?transport=tcp`],
    });
    const { reg, clock } = r;
    for (let i = 0; i < 2; i++) {
      const done = reg.probeAll();
      // The refused connect fails on its own; the open one answers: no timeout needs to pass.
      await bounded(done);
      await clock.advance(0);
    }
    expect(health(reg)).toEqual({
      [`turns:127.0.0.1:${open}`]: true,
      [`turn:127.0.0.1:${closed}?transport=tcp`]: false,
    });
  });

  it('leaves everything as configured with probing off', async () => {
    const dead = await responder(false);
    cleanup.push(() => dead.close());
    const { reg } = registry({ entries: [turnAt(dead.port)], probeIntervalMs: 0 });
    reg.start();
    await bounded(reg.probeAll());
    expect(dead.requests).toBe(0);
    expect(health(reg)).toEqual({ [turnAt(dead.port)]: true });
  });
});

describe('RelayRegistry schedule and close', () => {
  it('probes at start, then once per interval of the injected clock', async () => {
    const live = await responder();
    cleanup.push(() => live.close());
    const r = registry({ entries: [turnAt(live.port)] });
    const { reg, clock } = r;
    reg.start();
    reg.start(); // idempotent
    await vi.waitFor(() => expect(live.requests).toBe(1), { timeout: 5000 });
    await vi.waitFor(() => expect(clock.pending).toBe(1), { timeout: 5000 }); // the next round's timer
    await clock.advance(999);
    expect(live.requests).toBe(1);
    await clock.advance(1);
    await vi.waitFor(() => expect(live.requests).toBe(2), { timeout: 5000 });
  });

  it('close() is idempotent, stops the rounds and frees its sockets and timers', async () => {
    const udpBefore = process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
    const dead = await responder(false);
    const r = registry({ entries: [turnAt(dead.port)] });
    const { reg, clock } = r;
    reg.start();
    await vi.waitFor(() => expect(dead.requests).toBe(1), { timeout: 5000 });
    const inFlight = reg.probeAll(); // joins the probe already out
    reg.close();
    reg.close();
    await bounded(inFlight); // probes in flight settle as misses
    expect(clock.pending).toBe(0);
    await clock.advance(5000);
    expect(dead.requests).toBe(1);
    expect(health(reg)).toEqual({ [turnAt(dead.port)]: true }); // results after close are ignored
    await dead.close();
    await vi.waitFor(
      () => expect(process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length).toBe(udpBefore),
      { timeout: 5000 },
    );
  });

  it('refuses a timeout that is not below the interval', () => {
    expect(() => new RelayRegistry({ relays: [], probeIntervalMs: 100, probeTimeoutMs: 100 })).toThrow(
      RangeError,
    );
  });
});

describe('RelayRegistry order', () => {
  const entries = [
    'turn:a.invalid;region=us',
    'turn:b.invalid;region=eu',
    'turn:c.invalid;region=eu;weight=3',
    'turn:d.invalid;weight=2',
  ];
  // Probing off: these hosts are never contacted; the order alone is under test.
  const unprobed = (extra: Partial<RelayRegistryOptions> = {}) =>
    registry({ entries, probeIntervalMs: 0, ...extra }).reg;

  it('puts the client region first, then higher weight, then configuration order', () => {
    const reg = unprobed();
    expect(ids(reg.select('eu'))).toEqual([
      'turn:c.invalid',
      'turn:b.invalid',
      'turn:d.invalid',
      'turn:a.invalid',
    ]);
    expect(ids(reg.select('us'))).toEqual([
      'turn:a.invalid',
      'turn:c.invalid',
      'turn:d.invalid',
      'turn:b.invalid',
    ]);
    // No hint, or a region nobody serves: weight alone.
    expect(ids(reg.select())).toEqual(ids(reg.select('ap')));
    expect(ids(reg.select())).toEqual([
      'turn:c.invalid',
      'turn:d.invalid',
      'turn:a.invalid',
      'turn:b.invalid',
    ]);
  });

  it('hands one relay host out UDP first, then TCP, then TLS, whatever the configuration order', () => {
    const reg = registry({
      entries: [
        'turns:e.invalid:5349?transport=tcp',
        'turn:e.invalid:3478?transport=tcp',
        'turn:e.invalid:3478?transport=udp',
      ],
      probeIntervalMs: 0,
    }).reg;
    expect(ids(reg.select())).toEqual([
      'turn:e.invalid:3478?transport=udp',
      'turn:e.invalid:3478?transport=tcp',
      'turns:e.invalid:5349?transport=tcp',
    ]);
  });

  it('orders the bundled relay by its region, weight and load like any other', () => {
    let load = 0;
    const reg = unprobed({ bundled: { port: 3478, region: 'eu', weight: 3, load: () => load } });
    // Same region and weight as c.invalid; no RTT (in process) and no load: first.
    expect(ids(reg.select('eu')).slice(0, 2)).toEqual(['bundled', 'turn:c.invalid']);
    load = 0.5; // half its quota in use: the idle relay of the same rank goes first
    expect(ids(reg.select('eu')).slice(0, 2)).toEqual(['turn:c.invalid', 'bundled']);
    expect(ids(reg.select('us'))[0]).toBe('turn:a.invalid');
  });

  it('breaks ties on probe RTT, in steps so jitter does not reorder', async () => {
    const near = await responder();
    const far = await responder();
    cleanup.push(
      () => near.close(),
      () => far.close(),
    );
    const r = registry({ entries: [turnAt(far.port), turnAt(near.port)] });
    const { reg, clock } = r;
    const rtts = () => reg.list().map((r) => r.lastRtt);
    // Answers are timed on the injected clock: hold the far relay's answer while 50 ms pass.
    far.hold = true;
    let done = reg.probeAll();
    await vi.waitFor(() => expect(rtts()[1]).toBe(0), { timeout: 5000 });
    await vi.waitFor(() => expect(far.requests).toBe(1), { timeout: 5000 });
    await clock.advance(50);
    far.release();
    await bounded(done);
    expect(rtts()).toEqual([50, 0]);
    expect(ids(reg.select())).toEqual([turnAt(near.port), turnAt(far.port)]);

    // 3 ms apart is jitter: configuration order decides.
    done = reg.probeAll();
    await vi.waitFor(() => expect(far.requests).toBe(2), { timeout: 5000 });
    await clock.advance(3);
    far.release();
    await bounded(done);
    expect(rtts()[0]).toBe(3);
    expect(ids(reg.select())).toEqual([turnAt(far.port), turnAt(near.port)]);
  });
});
