/**
 * One relay-only call, two relays: coturn (`use-auth-secret` with our secret) and the bundled relay get
 * the very same test, through the same helper and the same signaling configuration (TURN_SERVERS naming
 * the relay, none embedded). Credentials come from our signaling both ways it hands them out: alice's
 * from her welcome, bob's from POST /v1/turn-credentials. Both relays must accept them, and the call must
 * run relay to relay with data both ways.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { startCoturn } from '../../test-support/sdk-coturn.js';
import {
  MessageStream,
  relayOnlyCall,
  selectedPair,
  startLoopbackRelay,
  turnUrl,
  type RelayedCall,
} from '../../test-support/relayed-call.js';
import { TEST_TURN_SECRET, startSignaling } from '../../test-support/signaling.js';
import { TurnClient } from '../../test-support/turn-client.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import { findTool } from '../../test-support/tools.js';

const hasCoturn = findTool('turnserver') !== null || process.env.CI !== undefined;
const MESSAGES = 20;

const defer = closeAfterEach();

/** The shared body: a relay-only call through the relay at `port`, checked the same way for both. */
async function callThrough(port: number, transport: 'udp' | 'tcp' = 'udp'): Promise<RelayedCall> {
  const sig = defer(await startSignaling({ TURN_SERVERS: turnUrl(port, transport) }), (x) => x.close());
  const call = defer(await relayOnlyCall(sig, 'interop'), (x) => x.close());
  for (const peer of [call.a, call.b])
    expect(peer.iceServers).toContainEqual(
      expect.objectContaining({
        urls: turnUrl(port, transport),
        username: expect.stringMatching(/^\d+:\w+:[\w-]+$/), // bound to the room
      }),
    );

  for (const peer of [call.a, call.b]) {
    const pair = await selectedPair(peer.link!);
    expect(pair).toMatchObject({
      local: 'relay',
      remote: 'relay',
      localAddress: '127.0.0.1',
      relayProtocol: transport,
    });
  }
  const stream = new MessageStream(call);
  for (let i = 0; i < MESSAGES; i++) stream.send();
  await expect.poll(() => stream.complete(), { timeout: 10_000, interval: 50 }).toBe(true);
  expect(stream.misordered()).toBe(false);
  return call;
}

describe.skipIf(!hasCoturn)('relay-only WebRTC through coturn and through the bundled relay', () => {
  it('coturn accepts credentials minted by our signaling and relays the call', async () => {
    const coturn = defer((await startCoturn())!, (x) => x.stop());
    await callThrough(coturn.port);
  }, 60_000);

  it('coturn accepts a room-bound credential ("<expiry>:<user>:<room-tag>") as an unscoped one', async () => {
    const coturn = defer((await startCoturn())!, (x) => x.stop());
    const cred = mintTurnCredential({
      secret: TEST_TURN_SECRET,
      userId: 'alice',
      ttlSeconds: 600,
      room: 'team: ✓',
    });
    const client = defer(
      await TurnClient.connect({ host: '127.0.0.1', port: coturn.port }, cred.username, cred.credential),
      (c) => c.close(),
    );
    expect((await client.allocate()).code).toBe(0);
    expect((await client.createPermission({ address: '127.0.0.1', port: 9 })).code).toBe(0);
  }, 30_000);

  it('the bundled relay does the same, with the data on channels', async () => {
    const bundled = defer(await startLoopbackRelay(), (x) => x.close());
    await callThrough(bundled.address.port);
    const { allocations, counters } = bundled.stats();
    // At least one allocation per peer (libwebrtc allocates from each local interface), and the clients
    // sent the data-channel traffic as ChannelData. Toward the clients the relay uses a channel only when
    // the client bound one to the exact address the packet came from: under load libwebrtc may send from
    // another of its relayed candidates than the pair the remote bound its channel to (CI saw 3
    // ChannelData and the rest as Data indications, correctly), so both encodings count there.
    expect(allocations).toBeGreaterThanOrEqual(2);
    expect(counters.channelDataIn).toBeGreaterThanOrEqual(2 * MESSAGES);
    expect(counters.channelDataOut).toBeGreaterThan(0);
    expect(counters.channelDataOut + counters.dataIndications).toBeGreaterThanOrEqual(2 * MESSAGES);
  }, 60_000);

  it('the bundled relay over TCP: clients reach it on a stream, and closing the stream frees the allocation', async () => {
    const relay = defer(await startLoopbackRelay(), (x) => x.close());
    const through = await callThrough(relay.address.port, 'tcp');
    const { allocations, tcpConnections, counters } = relay.stats();
    expect(allocations).toBeGreaterThanOrEqual(2);
    expect(tcpConnections).toBe(allocations);
    expect(counters.channelDataIn).toBeGreaterThanOrEqual(2 * MESSAGES);
    expect(counters.channelDataOut).toBeGreaterThanOrEqual(2 * MESSAGES);
    await through.close();
    // RFC 8656 §3.1: the allocation lives as long as its TCP connection.
    await expect
      .poll(() => relay.stats(), { timeout: 10_000 })
      .toMatchObject({ allocations: 0, tcpConnections: 0, relaySockets: 0 });
  }, 60_000);
});
