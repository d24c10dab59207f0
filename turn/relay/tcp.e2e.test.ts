/**
 * The relay's TCP listener over real sockets: frames split anywhere are understood, a stream that is not
 * TURN is closed, idle connections without an allocation are closed, and the connection cap holds.
 * Whole calls over TCP (libwebrtc, turnutils_uclient -t) are in turn/interop/.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  getAttr,
  parseStun,
  randomTransactionId,
} from '../stun/message.js';
import { until } from '../../test-support/turn-client.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const defer = closeAfterEach();

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({ realm: 'tcp.test', secrets: ['s'], minPort: 45000, maxPort: 45999, ...options }),
  );
  defer(r, (x) => x.close());
  return r;
}

async function tcpTo(r: TurnServer): Promise<{ socket: Socket; data: Buffer[]; closed: Promise<void> }> {
  const socket = connect(r.address.port, '127.0.0.1');
  defer(socket, (x) => x.destroy());
  const data: Buffer[] = [];
  socket.on('data', (d: Buffer) => data.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, data, closed };
}

describe('TurnServer over TCP', () => {
  it('answers a Binding request sent a byte at a time, with the client TCP address mapped', async () => {
    const r = await relay();
    const c = await tcpTo(r);
    const request = new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build();
    for (const byte of request) c.socket.write(Buffer.from([byte]));
    expect(await until(() => Buffer.concat(c.data).length >= 20)).toBe(true);
    const parsed = parseStun(Buffer.concat(c.data));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.message.cls).toBe(StunClass.success);
    expect(getAttr(parsed.message, Attr.xorMappedAddress)).toBeDefined();
    expect(r.stats().tcpConnections).toBe(1);
  });

  it('closes a stream that is not TURN and keeps serving others', async () => {
    const r = await relay();
    const bad = await tcpTo(r);
    bad.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await bad.closed;
    expect(r.stats().counters.malformed).toBe(1);
    const good = await tcpTo(r);
    good.socket.write(new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build());
    expect(await until(() => good.data.length > 0)).toBe(true);
  });

  it('closes a connection that makes no allocation once idle', async () => {
    const r = await relay({ tcpIdleMs: 100 });
    const c = await tcpTo(r);
    await c.closed;
    await until(() => r.stats().tcpConnections === 0);
    expect(r.stats().tcpConnections).toBe(0);
  });

  it('refuses connections past the cap', async () => {
    const r = await relay({ maxTcpConnections: 1 });
    await tcpTo(r);
    const second = await tcpTo(r);
    await second.closed;
    expect(r.stats().tcpConnections).toBe(1);
  });

  it('can run without TCP', async () => {
    const r = await relay({ tcp: false });
    const socket = connect(r.address.port, '127.0.0.1');
    defer(socket, (x) => x.destroy());
    const refused = await new Promise<string>((resolve) =>
      socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    expect(refused).toBe('ECONNREFUSED');
  });
});
