/**
 * Room scope over real sockets. The relay listens on two loopback addresses (127.0.0.1 and 127.0.0.8) so
 * that allocations have distinct relayed addresses; clients and peers use other loopback addresses as
 * their own. A room-bound allocation is granted permissions only toward its room's announced addresses
 * and its room's allocations (client and relayed addresses); another room's addresses and unannounced
 * ones get 403, after a bounded wait that an announcement racing the request ends early. Unscoped
 * credentials keep working in 'on' and are refused in 'strict'.
 */
import type { Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient, udpSocket, until } from '../../test-support/turn-client.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { inProcessRelayControl } from './relay-control.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const defer = closeAfterEach();
const SECRET = 'room-scope-secret';
const A = '127.0.0.1';
const B = '127.0.0.8';

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({
      realm: 'scope.test',
      secrets: [SECRET],
      minPort: 36500,
      maxPort: 36999,
      hosts: [A, B],
      roomScope: 'on',
      roomScopeWaitMs: 300,
      ...options,
    }),
  );
  return defer(r, (x) => x.close());
}

/** An allocation made through the relay's listener at `via`, from the client address `from`. */
async function allocation(r: TurnServer, o: { room?: string; user?: string; via?: string; from: string }) {
  const cred = mintTurnCredential({ secret: SECRET, userId: o.user ?? 'u', ttlSeconds: 600, room: o.room });
  const c = await TurnClient.connect(
    { host: o.via ?? A, port: r.address.port },
    cred.username,
    cred.credential,
    o.from,
  );
  defer(c, (x) => x.close());
  expect((await c.allocate()).code).toBe(0);
  return c;
}

async function peerAt(address: string): Promise<{ socket: Socket; got: Buffer[]; port: number }> {
  const socket = defer(await udpSocket(address), (s) => s.close());
  const got: Buffer[] = [];
  socket.on('message', (m: Buffer) => got.push(m));
  return { socket, got, port: socket.address().port };
}

describe('room-scoped credentials on the relay', () => {
  it('refuses a permission toward an unannounced address, and grants it once the room announces it', async () => {
    const r = await relay();
    const c = await allocation(r, { room: 'room-a', from: '127.0.0.2' });
    const peer = await peerAt('127.0.0.5');
    const to = { address: '127.0.0.5', port: peer.port };
    expect((await c.createPermission(to)).code).toBe(403);
    expect((await c.channelBind(0x4001, to)).code).toBe(403);
    expect(r.stats().counters.roomScopeDenied).toBe(2);
    // Another room announcing it changes nothing for room-a.
    r.announceRoomAddresses('room-b', ['127.0.0.5']);
    expect((await c.createPermission(to)).code).toBe(403);

    inProcessRelayControl(r).announceRoomAddresses('room-a', ['127.0.0.5', 'abcd.local']);
    expect((await c.createPermission(to)).code).toBe(0);
    c.send(to, Buffer.from('to peer'));
    expect(await until(() => peer.got.length === 1)).toBe(true);
    peer.socket.send(Buffer.from('to client'), c.relayed!.port, c.relayed!.address);
    expect(await until(() => c.received.length === 1)).toBe(true);
    expect((await c.channelBind(0x4001, to)).code).toBe(0);
  });

  it('answers a permission that races its announcement once the announcement lands', async () => {
    const r = await relay({ roomScopeWaitMs: 5000 });
    const c = await allocation(r, { room: 'room-a', from: '127.0.0.2' });
    const pending = c.createPermission({ address: '127.0.0.5', port: 9 });
    setTimeout(() => r.announceRoomAddresses('room-a', ['127.0.0.5']), 100);
    expect((await pending).code).toBe(0);
  });

  it("allows the room's own allocations without an announcement: relayed and client addresses", async () => {
    const r = await relay();
    const one = await allocation(r, { room: 'room-a', user: 'one', via: A, from: '127.0.0.2' });
    const two = await allocation(r, { room: 'room-a', user: 'two', via: B, from: '127.0.0.3' });
    expect(one.relayed!.address).toBe(A);
    expect(two.relayed!.address).toBe(B);
    // Relay to relay, both ways, and data flows.
    expect((await one.createPermission(two.relayed!)).code).toBe(0);
    expect((await two.createPermission(one.relayed!)).code).toBe(0);
    one.send(two.relayed!, Buffer.from('relay to relay'));
    expect(await until(() => two.received.length === 1)).toBe(true);
    expect(two.received[0]!.data.toString()).toBe('relay to relay');
    // The other peer's own address (it reached the relay from there).
    expect((await one.createPermission({ address: '127.0.0.3', port: 1 })).code).toBe(0);
  });

  it("refuses another room's relayed, client and announced addresses", async () => {
    const r = await relay();
    const mine = await allocation(r, { room: 'room-a', user: 'one', via: A, from: '127.0.0.2' });
    const theirs = await allocation(r, { room: 'room-b', user: 'two', via: B, from: '127.0.0.7' });
    r.announceRoomAddresses('room-b', ['127.0.0.9']);
    expect((await mine.createPermission(theirs.relayed!)).code).toBe(403);
    expect((await mine.createPermission({ address: '127.0.0.7', port: 1 })).code).toBe(403);
    expect((await mine.createPermission({ address: '127.0.0.9', port: 1 })).code).toBe(403);
    // The other room is served as usual.
    expect((await theirs.createPermission({ address: '127.0.0.9', port: 1 })).code).toBe(0);
  });

  it("leaves unscoped credentials alone when 'on', and refuses them when 'strict'", async () => {
    const on = await relay();
    const plain = await allocation(on, { from: '127.0.0.2' });
    expect((await plain.createPermission({ address: '127.0.0.5', port: 1 })).code).toBe(0);

    const strict = await relay({ roomScope: 'strict' });
    const cred = mintTurnCredential({ secret: SECRET, userId: 'u', ttlSeconds: 600 });
    const refused = defer(
      await TurnClient.connect({ host: A, port: strict.address.port }, cred.username, cred.credential),
      (x) => x.close(),
    );
    expect((await refused.allocate()).code).toBe(403);
    await allocation(strict, { room: 'room-a', from: '127.0.0.2' });
  });

  it("scopes nothing when 'off'", async () => {
    const r = await relay({ roomScope: 'off' });
    const c = await allocation(r, { room: 'room-a', from: '127.0.0.2' });
    expect((await c.createPermission({ address: '127.0.0.5', port: 1 })).code).toBe(0);
  });
});
