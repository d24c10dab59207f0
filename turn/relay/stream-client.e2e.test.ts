/**
 * The test TURN client over streams, against the relay: a whole allocation over TCP (auth, Allocate,
 * ChannelBind, padded ChannelData and Send/Data indications both ways to a UDP peer), and the same over
 * TLS through a TLS terminator in front of the relay's TCP port, until the relay listens for TLS itself.
 */
import { connect as tcpConnect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient, udpSocket, until, type StreamConnectOptions } from '../../test-support/turn-client.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { selfSignedCertificate } from './self-signed.js';
import { TurnServer } from './turn-server.js';

const defer = closeAfterEach();
const SECRET = 'stream-client-secret';

async function relay(): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({ realm: 'stream.test', secrets: [SECRET], minPort: 46000, maxPort: 46999 }),
  );
  return defer(r, (x) => x.close());
}

/** TLS in front of the relay's TCP port: each TLS connection piped to a fresh TCP one. */
async function tlsTerminator(tcpPort: number, pair: { cert: string; key: string }): Promise<number> {
  const server = createTlsServer(pair, (front) => {
    const back = tcpConnect(tcpPort, '127.0.0.1');
    front.on('error', () => back.destroy());
    back.on('error', () => front.destroy());
    front.pipe(back).pipe(front);
  });
  defer(server, (s) => new Promise((r) => s.close(r)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

async function allocateAndRelay(port: number, options: StreamConnectOptions, relayServer: TurnServer) {
  const cred = mintTurnCredential({ secret: SECRET, userId: 'u', ttlSeconds: 600 });
  const client = defer(
    await TurnClient.connectStream({ host: '127.0.0.1', port }, cred.username, cred.credential, options),
    (c) => c.close(),
  );
  expect(client.transport).toBe(options.transport);
  expect(() => client.socket).toThrow();
  expect((await client.allocate()).code).toBe(0);
  const peer = defer(await udpSocket(), (s) => s.close());
  const peerAddr = { address: '127.0.0.1', port: peer.address().port };
  expect((await client.channelBind(0x4001, peerAddr)).code).toBe(0);
  const atPeer: Buffer[] = [];
  peer.on('message', (m: Buffer) => atPeer.push(m));

  // Client to peer: ChannelData of lengths that need padding on the stream, and a Send indication.
  for (const n of [1, 2, 3, 4, 5]) client.sendChannel(0x4001, Buffer.alloc(n, n));
  client.send(peerAddr, Buffer.from('indication'));
  expect(await until(() => atPeer.length === 6)).toBe(true);
  expect(atPeer.map((b) => b.length)).toEqual([1, 2, 3, 4, 5, 10]);

  // Peer to client: ChannelData on the stream, padding removed by the client's frame reader.
  const relayed = client.relayed!;
  for (const text of ['a', 'bc', 'def']) peer.send(Buffer.from(text), relayed.port, relayed.address);
  expect(await until(() => client.received.length === 3)).toBe(true);
  expect(client.received.map((r) => r.data.toString())).toEqual(['a', 'bc', 'def']);
  expect(client.received.every((r) => r.channel === 0x4001)).toBe(true);
  expect(relayServer.stats().allocations).toBe(1);

  // The allocation dies with the connection.
  await client.close();
  expect(await until(() => relayServer.stats().allocations === 0)).toBe(true);
}

describe('TurnClient over streams', () => {
  it('allocates and relays both ways over TCP', async () => {
    const r = await relay();
    await allocateAndRelay(r.address.port, { transport: 'tcp' }, r);
  });

  it('allocates and relays both ways over TLS', async () => {
    const r = await relay();
    const pair = selfSignedCertificate({ hosts: ['localhost'] });
    const port = await tlsTerminator(r.address.port, pair);
    await allocateAndRelay(port, { transport: 'tls', tls: { ca: pair.cert, servername: 'localhost' } }, r);
  });

  it('hands raw frames to a load generator that takes them', async () => {
    const r = await relay();
    const cred = mintTurnCredential({ secret: SECRET, userId: 'u', ttlSeconds: 600 });
    const client = defer(
      await TurnClient.connectStream(
        { host: '127.0.0.1', port: r.address.port },
        cred.username,
        cred.credential,
        {
          transport: 'tcp',
        },
      ),
      (c) => c.close(),
    );
    expect((await client.allocate()).code).toBe(0);
    const peer = defer(await udpSocket(), (s) => s.close());
    expect((await client.channelBind(0x4002, { address: '127.0.0.1', port: peer.address().port })).code).toBe(
      0,
    );
    const frames: Buffer[] = [];
    client.takeFrames((f) => frames.push(f));
    peer.send(Buffer.from('xyz'), client.relayed!.port, client.relayed!.address);
    expect(await until(() => frames.length === 1)).toBe(true);
    expect(frames[0]!.toString('hex')).toBe('40020003' + Buffer.from('xyz').toString('hex'));
    expect(client.received).toHaveLength(0);
  });
});
