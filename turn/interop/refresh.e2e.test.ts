/**
 * Refresh cycles under a real ICE agent: the bundled relay grants 4 s allocations, so libwebrtc refreshes
 * each one every ~2 s (half the lifetime when it is under two minutes), and the call's credential lives
 * 3 s. The credential expires mid-call; the relay keeps accepting refreshes signed with it (RFC 8656 §5
 * ties later requests to the allocation's credential; only Allocate checks the REST expiry), so the
 * allocations live on and data keeps arriving, while a new allocation with it is refused.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { mintTurnCredential } from '../credentials/rest-credentials.js';
import {
  MessageStream,
  relayOnlyCall,
  selectedPair,
  startLoopbackRelay,
  turnUrl,
} from '../../test-support/relayed-call.js';
import { startSignaling, TEST_TURN_SECRET } from '../../test-support/signaling.js';
import { TurnClient } from '../../test-support/turn-client.js';

const LIFETIME_S = 4;
const CREDENTIAL_TTL_S = 3;
const SEND_EVERY_MS = 250;

const defer = closeAfterEach();

describe('allocation refresh through the bundled relay', () => {
  it('keeps a relay-only call up across refresh cycles after its credential expired', async () => {
    const r = defer(
      await startLoopbackRelay({ defaultLifetimeSec: LIFETIME_S, maxLifetimeSec: LIFETIME_S }),
      (x) => x.close(),
    );
    const sig = defer(await startSignaling(), (x) => x.close());
    // Minted here rather than by signaling, whose floor is 60 s; same function, same secret.
    const cred = mintTurnCredential({
      secret: TEST_TURN_SECRET,
      userId: 'short',
      ttlSeconds: CREDENTIAL_TTL_S,
    });
    const iceServers = [
      { urls: turnUrl(r.address.port), username: cred.username, credential: cred.credential },
    ];
    const call = defer(await relayOnlyCall(sig, 'refresh', iceServers), (x) => x.close());
    const pairAtStart = await selectedPair(call.a.link!);
    expect(pairAtStart).toMatchObject({ local: 'relay', remote: 'relay' });

    const stream = new MessageStream(call);
    defer(
      setInterval(() => stream.send(), SEND_EVERY_MS),
      clearInterval,
    );
    const allocations = r.stats().allocations;
    expect(allocations).toBeGreaterThanOrEqual(2);

    await expect
      .poll(() => Date.now() >= cred.expiresAt * 1000, {
        timeout: (CREDENTIAL_TTL_S + 2) * 1000,
        interval: 100,
      })
      .toBe(true);
    const atExpiry = { refreshes: r.stats().counters.refreshes, sent: stream.sent };
    // The relay really refuses the credential now: a new allocation with it gets 401.
    const late = await TurnClient.connect(
      { host: '127.0.0.1', port: r.address.port },
      cred.username,
      cred.credential,
    );
    try {
      expect((await late.allocate()).code).toBe(401);
    } finally {
      await late.close();
    }

    // Two refresh cycles for every allocation after the expiry; without them the 4 s allocations
    // would have been swept and the call cut.
    await expect
      .poll(() => r.stats().counters.refreshes - atExpiry.refreshes, {
        timeout: 6 * LIFETIME_S * 1000,
        interval: 100,
      })
      .toBeGreaterThanOrEqual(2 * allocations);
    const { counters } = r.stats();
    process.stdout.write(
      `refresh: ${allocations} allocations, refreshes ${counters.refreshes} (${counters.refreshes - atExpiry.refreshes} after expiry), ` +
        `channelData in/out ${counters.channelDataIn}/${counters.channelDataOut}, messages sent ${stream.sent} (${atExpiry.sent} at expiry)\n`,
    );
    expect(r.stats().allocations).toBe(allocations);
    expect(await selectedPair(call.a.link!)).toEqual(pairAtStart);

    // Everything sent, before and after the expiry, arrives in order; and more keeps arriving.
    const sentNow = stream.sent;
    await expect
      .poll(() => stream.received('b').length, { timeout: 10_000, interval: 50 })
      .toBeGreaterThan(sentNow);
    await expect
      .poll(() => stream.received('a').length, { timeout: 10_000, interval: 50 })
      .toBeGreaterThan(sentNow);
    expect(sentNow).toBeGreaterThan(atExpiry.sent);
    expect(stream.misordered()).toBe(false);
  }, 45_000);
});
