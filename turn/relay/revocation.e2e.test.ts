/**
 * Revoking a user on the relay, over real sockets: the user's UDP, TCP and TLS allocations are torn down within
 * a second (relay sockets closed, TCP connection closed, nothing more relayed), another user's allocation
 * is untouched, the old credential is refused with 401 from then on, and a credential minted after the
 * revocation (expiring later than its cutoff) is accepted. The IPC path through the supervisor is in
 * relay-control.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient, udpSocket, until } from '../../test-support/turn-client.js';
import { mintTurnCredential, type TurnCredential } from '../credentials/rest-credentials.js';
import { inProcessRelayControl } from './relay-control.js';
import { Revocations } from './revocations.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const defer = closeAfterEach();
const SECRET = 'revocation-secret';
const server = (r: TurnServer) => ({ host: '127.0.0.1', port: r.address.port });

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({
      realm: 'revoke.test',
      secrets: [SECRET],
      minPort: 37000,
      maxPort: 37999,
      hosts: ['127.0.0.1'],
      ...options,
    }),
  );
  return defer(r, (x) => x.close());
}

const mint = (userId: string, ttlSeconds = 600) => mintTurnCredential({ secret: SECRET, userId, ttlSeconds });

async function client(r: TurnServer, cred: TurnCredential, transport: 'udp' | 'tcp'): Promise<TurnClient> {
  const c =
    transport === 'udp'
      ? await TurnClient.connect(server(r), cred.username, cred.credential)
      : await TurnClient.connectStream(server(r), cred.username, cred.credential, { transport: 'tcp' });
  return defer(c, (x) => x.close());
}

/** An allocation of `cred` with a channel to a fresh peer socket, proven to relay both ways. */
async function relayedCall(r: TurnServer, cred: TurnCredential, transport: 'udp' | 'tcp') {
  const c = await client(r, cred, transport);
  expect((await c.allocate()).code).toBe(0);
  const peer = defer(await udpSocket(), (s) => s.close());
  const atPeer: Buffer[] = [];
  peer.on('message', (m: Buffer) => atPeer.push(m));
  expect((await c.channelBind(0x4000, { address: '127.0.0.1', port: peer.address().port })).code).toBe(0);
  const fromPeer = () => peer.send(Buffer.from('to client'), c.relayed!.port, '127.0.0.1');
  c.sendChannel(0x4000, Buffer.from('to peer'));
  fromPeer();
  expect(await until(() => atPeer.length === 1 && c.received.length === 1)).toBe(true);
  return { c, atPeer, fromPeer };
}

describe('revokeUser on the relay', () => {
  it('tears down every UDP and TCP allocation of the user within a second, and only theirs', async () => {
    const r = await relay();
    const old = mint('mallory');
    const udp = await relayedCall(r, old, 'udp');
    const tcp = await relayedCall(r, old, 'tcp');
    const alice = await relayedCall(r, mint('alice'), 'udp');
    expect(r.stats().allocations).toBe(3);
    const tcpClosed = new Promise<void>((resolve) => tcp.c.stream!.once('close', () => resolve()));

    inProcessRelayControl(r).revokeUser('mallory', old.expiresAt);

    expect(await until(() => r.stats().allocations === 1, 1000)).toBe(true);
    expect(await until(() => r.stats().relaySockets === 1, 1000)).toBe(true);
    await tcpClosed; // the TCP control connection is closed with its allocation
    expect(r.stats().counters.revocations).toBe(1);

    // Nothing more is relayed to the revoked user; the other user's call goes on.
    udp.fromPeer();
    alice.fromPeer();
    expect(await until(() => alice.c.received.length === 2)).toBe(true);
    expect(udp.c.received.length).toBe(1);

    // The revoked credential is refused as a bad one, even on the old 5-tuple.
    expect((await udp.c.refresh()).code).toBe(401);
    const again = await client(r, old, 'udp');
    expect((await again.allocate()).code).toBe(401);
    const overTcp = await client(r, old, 'tcp');
    expect((await overTcp.allocate()).code).toBe(401);
    expect(r.stats().counters.allocate.get('401')).toBeGreaterThanOrEqual(2);
  });

  it('closes the TLS connection of a revoked user with its allocation', async () => {
    const r = await relay({ tlsPort: 0 });
    const cred = mint('mallory');
    const c = defer(
      await TurnClient.connectStream(
        { host: '127.0.0.1', port: r.address.tlsPort! },
        cred.username,
        cred.credential,
        { transport: 'tls', tls: { rejectUnauthorized: false } },
      ),
      (x) => x.close(),
    );
    expect((await c.allocate()).code).toBe(0);
    const closed = new Promise<void>((resolve) => c.stream!.once('close', () => resolve()));
    r.revokeUser('mallory', cred.expiresAt);
    await closed;
    expect(await until(() => r.stats().allocations === 0 && r.stats().tcpConnections === 0, 1000)).toBe(true);
  });

  it('accepts a credential minted after the revocation, expiring later than its cutoff', async () => {
    const r = await relay();
    const old = mint('mallory', 600);
    r.revokeUser('mallory', old.expiresAt);
    const same = await client(r, old, 'udp');
    expect((await same.allocate()).code).toBe(401);
    const fresh = mint('mallory', 1200);
    expect(fresh.expiresAt).toBeGreaterThan(old.expiresAt);
    await relayedCall(r, fresh, 'udp');
    // A credential of another user is not concerned.
    const other = await client(r, mint('alice', 600), 'udp');
    expect((await other.allocate()).code).toBe(0);
  });

  it('refuses a malformed command the same way the IPC path does', () => {
    const control = inProcessRelayControl({
      revokeUser: () => undefined,
      announceRoomAddresses: () => undefined,
    });
    expect(() => control.revokeUser('a:b', 1)).toThrow(RangeError);
    expect(() => control.revokeUser('', 1)).toThrow(RangeError);
    expect(() => control.revokeUser('a', 1.5)).toThrow(RangeError);
  });
});

describe('Revocations', () => {
  it('refuses credentials expiring by the cutoff, and forgets the entry once the cutoff passes', () => {
    let now = 1_000_000_000;
    const revocations = new Revocations(() => now);
    const t = now / 1000;
    revocations.revoke('u', t + 60);
    revocations.revoke('u', t + 30); // never shortens
    expect(revocations.refuses('u', t + 60)).toBe(true);
    expect(revocations.refuses('u', t + 61)).toBe(false);
    expect(revocations.refuses('v', t + 10)).toBe(false);
    revocations.revoke('w', t - 1); // nothing left to refuse: not held
    expect(revocations.size).toBe(1);
    now += 60_000;
    revocations.sweep(now);
    expect(revocations.size).toBe(0);
  });
});
