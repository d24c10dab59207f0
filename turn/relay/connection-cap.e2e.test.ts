/**
 * The per-client-address cap on TURN-over-TCP/TLS connections, at its edge over real sockets: one source
 * address (127.0.0.2) gets exactly its share across the TCP and TLS listeners and the next connection is
 * closed unanswered and counted, another address (127.0.0.3) is still served meanwhile, and a slot comes
 * back when a connection closes. Loopback 127.0.0.0/8 is all usable as source addresses on Linux.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { until } from '../../test-support/turn-client.js';
import { Method, StunClass, StunWriter, parseStun, randomTransactionId } from '../stun/message.js';
import { sourceKey } from './connection-budget.js';
import { registerRelayMetrics } from './relay-metrics.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const defer = closeAfterEach();

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({
      realm: 'cap.test',
      secrets: ['s'],
      minPort: 38000,
      maxPort: 38999,
      hosts: ['127.0.0.1'],
      tlsPort: 0,
      ...options,
    }),
  );
  return defer(r, (x) => x.close());
}

interface Conn {
  socket: Socket;
  closed: Promise<void>;
  /** Whether a Binding request sent on it gets its success answer (false when closed unanswered). */
  binds(): Promise<boolean>;
}

/** A TCP or TLS connection to the relay from a chosen loopback source address, once it is up. */
async function open(r: TurnServer, transport: 'tcp' | 'tls', from: string): Promise<Conn> {
  const socket =
    transport === 'tcp'
      ? tcpConnect({ host: '127.0.0.1', port: r.address.port, localAddress: from })
      : tlsConnect({
          socket: tcpConnect({ host: '127.0.0.1', port: r.address.tlsPort!, localAddress: from }),
          rejectUnauthorized: false, // the relay's self-signed certificate for this run
        });
  defer(socket, (s) => s.destroy());
  socket.on('error', () => undefined);
  const data: Buffer[] = [];
  socket.on('data', (d: Buffer) => data.push(d));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // A TLS connection refused at accept fails its handshake: it is up or closed, whichever comes first.
  await Promise.race([
    new Promise((resolve) => socket.once(transport === 'tls' ? 'secureConnect' : 'connect', resolve)),
    closed,
  ]);
  const binds = async () => {
    if (socket.destroyed) return false;
    socket.write(new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build());
    const answered = () => {
      const parsed = parseStun(Buffer.concat(data));
      return parsed.ok && parsed.message.cls === StunClass.success;
    };
    await Promise.race([until(answered, 3000), closed]);
    return answered();
  };
  return { socket, closed, binds };
}

describe('per-address cap on TURN-over-TCP/TLS connections', () => {
  it('gives one address its share across TCP and TLS, refuses the next, and serves another address', async () => {
    const r = await relay({ maxStreamsPerIp: 3 });
    const held = [
      await open(r, 'tcp', '127.0.0.2'),
      await open(r, 'tls', '127.0.0.2'),
      await open(r, 'tcp', '127.0.0.2'),
    ];
    // The cap-th connection works.
    for (const c of held) expect(await c.binds()).toBe(true);

    // The next, on either port, is closed at accept without an answer, and counted.
    for (const transport of ['tcp', 'tls'] as const) {
      const refused = await open(r, transport, '127.0.0.2');
      await refused.closed;
      expect(await refused.binds()).toBe(false);
    }
    expect(r.stats().counters.streamsRefusedPerAddress).toBe(2);
    expect(r.stats().counters.streamsRefusedTotal).toBe(0);

    // Another address is served while 127.0.0.2 holds its share.
    const other = await open(r, 'tls', '127.0.0.3');
    expect(await other.binds()).toBe(true);
    expect(r.stats().tcpConnections).toBe(4);

    // A closed connection gives its slot back to its address.
    held[0]!.socket.destroy();
    await until(() => r.stats().tcpConnections === 3);
    const again = await open(r, 'tcp', '127.0.0.2');
    expect(await again.binds()).toBe(true);
    expect(r.stats().counters.streamsRefusedPerAddress).toBe(2);

    const registry = new Registry();
    registerRelayMetrics(registry, r);
    const text = await registry.metrics();
    expect(text).toContain('turn_stream_connections_refused_total{reason="per_address"} 2');
    expect(text).toContain('turn_stream_connections_refused_total{reason="total"} 0');
  });

  it('still refuses past the total cap, counted apart from the per-address refusals', async () => {
    const r = await relay({ maxStreamsPerIp: 2, maxTcpConnections: 3 });
    const a = [await open(r, 'tcp', '127.0.0.2'), await open(r, 'tcp', '127.0.0.2')];
    const b = await open(r, 'tcp', '127.0.0.3');
    for (const c of [...a, b]) expect(await c.binds()).toBe(true);
    const refused = await open(r, 'tcp', '127.0.0.4');
    await refused.closed;
    expect(r.stats().counters.streamsRefusedTotal).toBe(1);
    expect(r.stats().counters.streamsRefusedPerAddress).toBe(0);
  });
});

describe('sourceKey', () => {
  it('counts IPv4 by address, IPv4-mapped as IPv4, and IPv6 by its /64', () => {
    expect(sourceKey('127.0.0.2')).toBe('127.0.0.2');
    expect(sourceKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(sourceKey('2001:db8:1:2::1')).toBe(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'));
    expect(sourceKey('2001:db8:1:2::1')).not.toBe(sourceKey('2001:db8:1:3::1'));
  });
});
