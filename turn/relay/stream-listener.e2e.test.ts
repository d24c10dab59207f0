/**
 * The stream listener over TLS, on real sockets, with a test `onFrame` that answers STUN Bindings as the
 * relay would: TLS 1.2 and 1.3 clients through the shared framing, a TLS link told apart from a TCP one, a
 * client that speaks no TLS closed at once, a silent one at the handshake timeout, one connection budget
 * across TCP and TLS, and certificate changes applied to new connections. The relay's TCP behaviour over
 * this same listener is in tcp.e2e.test.ts.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { until } from '../../test-support/turn-client.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  parseStun,
  randomTransactionId,
  type StunMessage,
} from '../stun/message.js';
import { newCounters } from './relay-metrics.js';
import { selfSignedCertificate } from './self-signed.js';
import { ConnectionBudget } from './connection-budget.js';
import { StreamListener, type StreamListenerOptions } from './stream-listener.js';
import type { ClientLink } from './allocation.js';
import { TlsCertificates } from './tls-certificates.js';

const defer = closeAfterEach();
const PAIR = selfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });

interface Started {
  listener: StreamListener;
  frames: Array<{ frame: Buffer; link: ClientLink }>;
  closedLinks: ClientLink[];
}

async function listen(
  o: Partial<StreamListenerOptions> & { tlsCerts?: TlsCertificates | null } = {},
): Promise<Started> {
  const frames: Started['frames'] = [];
  const closedLinks: ClientLink[] = [];
  const certificates = o.tlsCerts === null ? undefined : (o.tlsCerts ?? TlsCertificates.fromPem(PAIR));
  const listener = await StreamListener.start({
    local: { id: 0, address: '127.0.0.1', port: 0, transport: certificates ? 'tls' : 'tcp' },
    maxConnections: 10,
    idleMs: 30_000,
    sendBufferBytes: 1 << 20,
    counters: newCounters(),
    ...(certificates ? { tls: { certificates } } : {}),
    onFrame(frame, link) {
      frames.push({ frame, link });
      // Answer a Binding request the way the relay does, mapped address included.
      const parsed = parseStun(frame);
      if (parsed.ok && parsed.message.method === Method.binding)
        link.send(
          new StunWriter(Method.binding, StunClass.success, parsed.message.transactionId)
            .addAddress(Attr.xorMappedAddress, { address: link.address, port: link.port, family: 'IPv4' })
            .build({ fingerprint: true }),
        );
    },
    allocated: () => false,
    onClose: (link) => closedLinks.push(link),
    ...o,
  });
  if (!listener) throw new Error('listen failed');
  defer(listener, (l) => l.close());
  return { listener, frames, closedLinks };
}

function watch<T extends Socket>(socket: T) {
  defer(socket, (s) => s.destroy());
  const data: Buffer[] = [];
  socket.on('data', (d: Buffer) => data.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  return { socket, data, closed };
}

async function tls(port: number, extra: ConnectionOptions = {}) {
  const c = watch(tlsConnect({ host: '127.0.0.1', port, ca: PAIR.cert, ...extra }));
  await new Promise<void>((resolve, reject) => {
    c.socket.once('secureConnect', resolve);
    c.socket.once('error', reject);
  });
  return c;
}

const binding = () => new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build();

async function answer(data: Buffer[]): Promise<StunMessage> {
  expect(await until(() => Buffer.concat(data).length >= 20)).toBe(true);
  const parsed = parseStun(Buffer.concat(data));
  if (!parsed.ok) throw new Error('not STUN');
  return parsed.message;
}

describe('StreamListener over TLS (RFC 8656 §3.1)', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const)
    it(`serves a ${version}-only client: a Binding through the framing, answered on the stream`, async () => {
      const { listener, frames } = await listen();
      const c = await tls(listener.port, { minVersion: version, maxVersion: version });
      expect(c.socket.getProtocol()).toBe(version);
      expect(c.socket.authorized).toBe(true);
      const request = binding();
      c.socket.write(request);
      const m = await answer(c.data);
      expect(m.cls).toBe(StunClass.success);
      expect(m.transactionId.equals(request.subarray(8, 20))).toBe(true);
      expect(frames).toHaveLength(1);
      const link = frames[0]!.link;
      expect(link.local.transport).toBe('tls');
      expect(link.key).toBe(`tls|127.0.0.1|127.0.0.1|${c.socket.localPort}`);
      expect(link.stream).toBe(true);
    });

  it('listens on IPv6 with a certificate whose SAN carries the address', async () => {
    const pair = selfSignedCertificate({ hosts: ['::1'] });
    const { listener, frames } = await listen({
      local: { id: 0, address: '::1', port: 0, transport: 'tls' },
      tls: { certificates: TlsCertificates.fromPem(pair) },
    });
    const c = watch(tlsConnect({ host: '::1', port: listener.port, ca: pair.cert }));
    await new Promise<void>((resolve, reject) => {
      c.socket.once('secureConnect', resolve);
      c.socket.once('error', reject);
    });
    c.socket.write(binding());
    expect(await until(() => frames.length === 1)).toBe(true);
    expect(frames[0]!.link.address).toBe('::1');
    expect(frames[0]!.link.key).toBe(`tls|::1|::1|${c.socket.localPort}`);
  });

  it('reads frames split across TLS records, and several frames in one', async () => {
    const { listener, frames } = await listen();
    const c = await tls(listener.port);
    const one = binding();
    for (const byte of one) c.socket.write(Buffer.from([byte])); // one record per byte
    c.socket.write(Buffer.concat([binding(), binding()]));
    expect(await until(() => frames.length === 3)).toBe(true);
    expect(frames[0]!.frame.equals(one)).toBe(true);
  });

  it('closes a plain TCP client at once and never hands its bytes on as frames', async () => {
    const { listener, frames } = await listen();
    const c = watch(tcpConnect(listener.port, '127.0.0.1'));
    await new Promise((r) => c.socket.once('connect', r));
    const sent = performance.now();
    c.socket.write(binding());
    const closedAt = await c.closed;
    expect(closedAt - sent).toBeLessThan(1000); // "at once": no handshake timeout waited for
    expect(frames).toHaveLength(0);
    expect(c.data).toHaveLength(0);
    expect(await until(() => listener.handshakeFailures === 1 && listener.size === 0)).toBe(true);
  });

  it('closes a client that sends nothing at the handshake timeout, not before', async () => {
    const handshakeTimeoutMs = 400;
    const { listener } = await listen({
      tls: { certificates: TlsCertificates.fromPem(PAIR), handshakeTimeoutMs },
    });
    const c = watch(tcpConnect(listener.port, '127.0.0.1'));
    await new Promise((r) => c.socket.once('connect', r));
    const opened = performance.now();
    const early = await Promise.race([c.closed, new Promise((r) => setTimeout(() => r('open'), 300))]);
    expect(early).toBe('open');
    expect(listener.size).toBe(1);
    const closedAt = await c.closed;
    expect(closedAt - opened).toBeGreaterThanOrEqual(handshakeTimeoutMs - 20);
    expect(await until(() => listener.size === 0)).toBe(true);
    expect(listener.handshakeFailures).toBe(1);
  });

  it('leaves a connection whose handshake finished alone past the handshake timeout', async () => {
    const handshakeTimeoutMs = 200;
    const { listener } = await listen({
      tls: { certificates: TlsCertificates.fromPem(PAIR), handshakeTimeoutMs },
    });
    const c = await tls(listener.port);
    await new Promise((r) => setTimeout(r, handshakeTimeoutMs * 3));
    c.socket.write(binding());
    expect((await answer(c.data)).cls).toBe(StunClass.success);
    expect(listener.handshakeFailures).toBe(0);
  });

  it('closes an idle TLS connection without an allocation after the idle time', async () => {
    const { listener, closedLinks } = await listen({ idleMs: 200 });
    const c = await tls(listener.port);
    await c.closed;
    expect(await until(() => closedLinks.length === 1 && listener.size === 0)).toBe(true);
    expect(closedLinks[0]!.local.transport).toBe('tls');
  });

  it('counts TCP and TLS connections against one shared budget', async () => {
    const connections = new ConnectionBudget(1);
    const tcpSide = await listen({ tlsCerts: null, connections });
    const tlsSide = await listen({ connections });
    const first = watch(tcpConnect(tcpSide.listener.port, '127.0.0.1'));
    await new Promise((r) => first.socket.once('connect', r));
    first.socket.write(binding());
    expect((await answer(first.data)).cls).toBe(StunClass.success);
    expect(tcpSide.frames[0]!.link.local.transport).toBe('tcp');
    expect(tcpSide.frames[0]!.link.key).toMatch(/^tcp\|/);
    expect(connections.open).toBe(1);
    // The TLS port is full while the TCP connection holds the one place.
    const refused = watch(tlsConnect({ host: '127.0.0.1', port: tlsSide.listener.port, ca: PAIR.cert }));
    await refused.closed;
    expect(tlsSide.listener.size).toBe(0);
    first.socket.destroy();
    expect(await until(() => connections.open === 0)).toBe(true);
    const second = await tls(tlsSide.listener.port);
    second.socket.write(binding());
    expect((await answer(second.data)).cls).toBe(StunClass.success);
    expect(connections.open).toBe(1);
  });

  it('applies a changed certificate to new connections only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stream-tls-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    writeFileSync(certFile, PAIR.cert);
    writeFileSync(keyFile, PAIR.key);
    const certificates = defer(TlsCertificates.fromFiles({ certFile, keyFile, pollMs: 20 }), (c) =>
      c.close(),
    );
    const { listener } = await listen({ tlsCerts: certificates });
    const before = await tls(listener.port);
    const next = selfSignedCertificate({ hosts: ['127.0.0.1'] });
    writeFileSync(keyFile, next.key);
    writeFileSync(certFile, next.cert);
    const fp = new X509Certificate(next.cert).fingerprint256;
    expect(await until(() => certificates.current.cert === next.cert)).toBe(true);
    const after = await tls(listener.port, { ca: next.cert });
    expect(after.socket.getPeerCertificate().fingerprint256).toBe(fp);
    before.socket.write(binding());
    expect((await answer(before.data)).cls).toBe(StunClass.success);
  });

  it('close() drops connections, stops listening, and is idempotent', async () => {
    const { listener, closedLinks } = await listen();
    const c = await tls(listener.port);
    c.socket.write(binding());
    await answer(c.data);
    await Promise.all([listener.close(), listener.close()]);
    await c.closed;
    expect(await until(() => closedLinks.length === 1)).toBe(true);
    const again = watch(tcpConnect(listener.port, '127.0.0.1'));
    const code = await new Promise<string>((resolve) =>
      again.socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    expect(code).toBe('ECONNREFUSED');
  });
});
