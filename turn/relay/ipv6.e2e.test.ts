/**
 * IPv6 on the wire (RFC 8656 §7.2, §9.1, §18.9-§18.13): clients over IPv6, IPv6 relayed addresses on
 * REQUESTED-ADDRESS-FAMILY, dual allocations on ADDITIONAL-ADDRESS-FAMILY, relaying between IPv6 clients,
 * family mismatches, and the peer policy's IPv6 denials answered 403. Over real sockets on ::1 and
 * 127.0.0.1, with the relay listening on every address as it ships.
 */
import type { Socket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { TurnClient, errorCode, udpSocket, until } from '../../test-support/turn-client.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { Attr, Method, StunClass, StunWriter, decodeAddress, getAttr } from '../stun/message.js';
import { TurnServer, type TurnServerOptions } from './turn-server.js';

const SECRET = 'ipv6-test-secret';
const defer = closeAfterEach();
const IPV6 = Buffer.from([0x02, 0, 0, 0]);
const IPV4 = Buffer.from([0x01, 0, 0, 0]);

async function relay(options: Partial<TurnServerOptions> = {}): Promise<TurnServer> {
  const r = await TurnServer.start(
    testRelayOptions({ realm: 'ipv6.test', secrets: [SECRET], minPort: 44000, maxPort: 44999, ...options }),
  );
  return defer(r, (x) => x.close());
}

async function client(r: TurnServer, host: '::1' | '127.0.0.1', user = 'alice'): Promise<TurnClient> {
  const cred = mintTurnCredential({ secret: SECRET, userId: user, ttlSeconds: 600 });
  const c = await TurnClient.connect({ host, port: r.address.port }, cred.username, cred.credential);
  return defer(c, (x) => x.close());
}

async function peer(host: '::1' | '127.0.0.1') {
  const socket: Socket = defer(await udpSocket(host), (s) => s.close());
  const got: Array<{ data: Buffer; from: string; port: number }> = [];
  socket.on('message', (data: Buffer, rinfo) => got.push({ data, from: rinfo.address, port: rinfo.port }));
  return { socket, got, addr: { address: host, port: socket.address().port } };
}

describe('bundled relay over IPv6', () => {
  it('listens on ::1 beside 127.0.0.1 and answers a Binding over IPv6 with an IPv6 mapped address', async () => {
    const r = await relay();
    expect(r.address.addresses).toContain('::1');
    expect(r.address.addresses).toContain('127.0.0.1');
    const c = await client(r, '::1');
    const m = await c.transact((id) => new StunWriter(Method.binding, StunClass.request, id).build());
    const mapped = decodeAddress(getAttr(m!, Attr.xorMappedAddress)!, true, m!.transactionId);
    expect(mapped).toEqual({ address: '::1', port: c.socket.address().port, family: 'IPv6' });
  });

  it('allocates an IPv6 relayed address on REQUESTED-ADDRESS-FAMILY and relays between two IPv6 clients', async () => {
    const r = await relay();
    const a = await client(r, '::1', 'alice');
    const b = await client(r, '::1', 'bob');
    for (const c of [a, b]) {
      expect((await c.allocate((w) => w.add(Attr.requestedAddressFamily, IPV6))).code).toBe(0);
      expect(c.relayed).toMatchObject({ address: '::1', family: 'IPv6' });
    }
    // Each lets the other's relayed address in; a sends on a channel, b answers with a Send indication.
    expect((await a.channelBind(0x4001, b.relayed!)).code).toBe(0);
    expect((await b.createPermission(a.relayed!)).code).toBe(0);
    a.sendChannel(0x4001, Buffer.from('over six'));
    expect(await until(() => b.received.length === 1)).toBe(true);
    expect(b.received[0]!.data.toString()).toBe('over six');
    expect(b.received[0]!.peer).toEqual(a.relayed);
    b.send(a.relayed!, Buffer.from('and back'));
    expect(await until(() => a.received.length === 1)).toBe(true);
    expect(a.received[0]).toMatchObject({ channel: 0x4001 });
    expect(a.received[0]!.data.toString()).toBe('and back');
    expect(r.stats().counters.packetsToPeer).toBe(2);
  });

  it('gives an IPv6 client an IPv4 relayed address by default, on the same kind of interface (loopback)', async () => {
    const r = await relay();
    const c = await client(r, '::1');
    expect((await c.allocate()).code).toBe(0);
    expect(c.relayed).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  });

  it('makes a dual allocation on ADDITIONAL-ADDRESS-FAMILY and relays each peer from its own family', async () => {
    const r = await relay();
    const c = await client(r, '127.0.0.1');
    const res = await c.allocate((w) => w.add(Attr.additionalAddressFamily, IPV6));
    expect(res.code).toBe(0);
    expect(c.relayedAll.map((a) => [a.address, a.family])).toEqual([
      ['127.0.0.1', 'IPv4'],
      ['::1', 'IPv6'],
    ]);
    const p4 = await peer('127.0.0.1');
    const p6 = await peer('::1');
    expect((await c.createPermission(p4.addr, p6.addr)).code).toBe(0);
    c.send(p4.addr, Buffer.from('four'));
    c.send(p6.addr, Buffer.from('six'));
    expect(await until(() => p4.got.length === 1 && p6.got.length === 1)).toBe(true);
    // Each peer sees the relayed address of its own family as the sender.
    expect([p4.got[0]!.from, p4.got[0]!.port]).toEqual([c.relayedAll[0]!.address, c.relayedAll[0]!.port]);
    expect([p6.got[0]!.from, p6.got[0]!.port]).toEqual([c.relayedAll[1]!.address, c.relayedAll[1]!.port]);
    p6.socket.send(Buffer.from('from six'), c.relayedAll[1]!.port, '::1');
    expect(await until(() => c.received.length === 1)).toBe(true);
    expect(c.received[0]!.peer).toEqual({ ...p6.addr, family: 'IPv6' });
    expect(r.stats().relaySockets).toBe(2);
    expect((await c.refresh(0)).code).toBe(0);
    expect(await until(() => r.stats().relaySockets === 0)).toBe(true);
  });

  it('still allocates IPv4 when the additional IPv6 family cannot be had, saying why in ADDRESS-ERROR-CODE', async () => {
    const r = await relay({ hosts: ['0.0.0.0'] });
    const c = await client(r, '127.0.0.1');
    const res = await c.allocate((w) => w.add(Attr.additionalAddressFamily, IPV6));
    expect(res.code).toBe(0);
    expect(c.relayedAll).toHaveLength(1);
    const why = getAttr(res.message, Attr.addressErrorCode)!;
    expect([why[0], why[2]! * 100 + why[3]!]).toEqual([0x02, 440]);
  });

  it.each([
    ['ADDITIONAL-ADDRESS-FAMILY IPv4', (w: StunWriter) => w.add(Attr.additionalAddressFamily, IPV4), 400],
    [
      'both REQUESTED- and ADDITIONAL-ADDRESS-FAMILY',
      (w: StunWriter) => w.add(Attr.requestedAddressFamily, IPV4).add(Attr.additionalAddressFamily, IPV6),
      400,
    ],
    [
      'an unknown family',
      (w: StunWriter) => w.add(Attr.requestedAddressFamily, Buffer.from([3, 0, 0, 0])),
      400,
    ],
  ])('refuses an Allocate with %s', async (_name, build, code) => {
    const c = await client(await relay(), '127.0.0.1');
    expect((await c.allocate(build)).code).toBe(code);
  });

  it('answers 443 for a peer or a refresh of a family the allocation does not have', async () => {
    const r = await relay();
    const c = await client(r, '127.0.0.1');
    expect((await c.allocate()).code).toBe(0);
    expect((await c.createPermission({ address: '::1', port: 9 })).code).toBe(443);
    expect((await c.channelBind(0x4000, { address: '::1', port: 9 })).code).toBe(443);
    const refresh = await c.request(Method.refresh, (w) => w.add(Attr.requestedAddressFamily, IPV6));
    expect(refresh.code).toBe(443);
    expect((await c.refresh()).code).toBe(0);
  });

  it.each([
    '::1', // loopback, when the operator has not allowed it
    '::', // unspecified
    'fe80::1', // link-local
    'fc00::1', // unique local
    'fd12:3456::1',
    'ff02::1', // multicast
    '64:ff9b::a00:1', // NAT64
    '2001:db8::1', // documentation
    '::ffff:10.0.0.1', // IPv4-mapped, judged by the IPv4 rules
    '::ffff:169.254.169.254',
  ])('refuses a permission for %s with 403 and counts it', async (address) => {
    const r = await relay({ allowedPeers: [] });
    const c = await client(r, '::1');
    expect((await c.allocate((w) => w.add(Attr.requestedAddressFamily, IPV6))).code).toBe(0);
    const res = await c.createPermission({ address, port: 4000 });
    expect(res.code).toBe(403);
    expect(errorCode(res.message)).toBe(403);
    expect(r.stats().counters.permissionDenied).toBe(1);
  });

  it('permits a global IPv6 peer under the default policy', async () => {
    const r = await relay({ allowedPeers: [] });
    const c = await client(r, '::1');
    expect((await c.allocate((w) => w.add(Attr.requestedAddressFamily, IPV6))).code).toBe(0);
    expect((await c.createPermission({ address: '2606:4700::1111', port: 4000 })).code).toBe(0);
  });
});
