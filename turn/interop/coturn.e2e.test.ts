/**
 * One relay-only call, two relays: coturn (`use-auth-secret` with our secret) and the bundled relay get
 * the very same test, through the same helper and the same signaling configuration (TURN_SERVERS naming
 * the relay, none embedded). Credentials come from our signaling both ways it hands them out: alice's
 * from her welcome, bob's from POST /v1/turn-credentials. Both relays must accept them, and the call must
 * run relay to relay with data both ways.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startCoturn, type Coturn } from '../../test-support/sdk-coturn.js';
import {
  MessageStream,
  relayOnlyCall,
  selectedPair,
  startLoopbackRelay,
  turnUrl,
  type RelayedCall,
} from '../../test-support/relayed-call.js';
import { startSignaling, type RunningSignaling } from '../../test-support/signaling.js';
import { findTool } from '../../test-support/tools.js';
import type { Relay } from '../relay/relay.js';

const hasCoturn = findTool('turnserver') !== null || process.env.CI !== undefined;
const MESSAGES = 20;

let sig: RunningSignaling | undefined;
let call: RelayedCall | undefined;
let coturn: Coturn | null = null;
let bundled: Relay | undefined;
afterEach(async () => {
  await call?.close();
  await sig?.close();
  await coturn?.stop();
  await bundled?.close();
  call = sig = bundled = undefined;
  coturn = null;
});

/** The shared body: a relay-only call through the relay at `port`, checked the same way for both. */
async function callThrough(port: number, transport: 'udp' | 'tcp' = 'udp'): Promise<RelayedCall> {
  sig = await startSignaling({ TURN_SERVERS: turnUrl(port, transport) });
  call = await relayOnlyCall(sig, 'interop');
  for (const peer of [call.a, call.b])
    expect(peer.iceServers).toContainEqual(
      expect.objectContaining({
        urls: turnUrl(port, transport),
        username: expect.stringMatching(/^\d+:\w+$/),
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
    coturn = await startCoturn();
    await callThrough(coturn!.port);
  }, 60_000);

  it('the bundled relay does the same, with the data on channels', async () => {
    bundled = await startLoopbackRelay();
    await callThrough(bundled.address.port);
    const { allocations, counters } = bundled.stats();
    // At least one allocation per peer (libwebrtc allocates from each local interface), and the
    // data-channel traffic went as ChannelData both ways.
    expect(allocations).toBeGreaterThanOrEqual(2);
    expect(counters.channelDataIn).toBeGreaterThanOrEqual(2 * MESSAGES);
    expect(counters.channelDataOut).toBeGreaterThanOrEqual(2 * MESSAGES);
  }, 60_000);

  it('the bundled relay over TCP: clients reach it on a stream, and closing the stream frees the allocation', async () => {
    bundled = await startLoopbackRelay();
    const relay = bundled;
    const through = await callThrough(relay.address.port, 'tcp');
    const { allocations, tcpConnections, counters } = relay.stats();
    expect(allocations).toBeGreaterThanOrEqual(2);
    expect(tcpConnections).toBe(allocations);
    expect(counters.channelDataIn).toBeGreaterThanOrEqual(2 * MESSAGES);
    expect(counters.channelDataOut).toBeGreaterThanOrEqual(2 * MESSAGES);
    await through.close();
    call = undefined;
    // RFC 8656 §3.1: the allocation lives as long as its TCP connection.
    await expect
      .poll(() => relay.stats(), { timeout: 10_000 })
      .toMatchObject({ allocations: 0, tcpConnections: 0, relaySockets: 0 });
  }, 60_000);
});
