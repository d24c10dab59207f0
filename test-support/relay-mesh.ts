/**
 * TURN allocations one relay-only peer makes in a mesh of N (a bench figure, and the quota test's load).
 * Signaling with the bundled relay
 * beside it (as `npm start` runs them), N Node SDK peers (@roamhq/wrtc, iceTransportPolicy 'relay') join
 * one room with the ICE servers signaling hands out, and once every pair is connected the relay's own
 * allocation count is read. libwebrtc allocates per peer connection, per TURN URL and per local interface,
 * so this is the number the per-user quota has to fit. The bench raises the quota so the count is what
 * clients ask for, not what a quota allowed; the quota test runs with the default and counts refusals.
 */
import { connect } from '../sdk/node.js';
import type { Room } from '../sdk/room.js';
import { loadTurnConfig } from '../turn/config.js';
import { startRelay } from '../turn/relay/start-relay.js';
import { TEST_TURN_SECRET, startSignaling } from './signaling.js';
import { round } from '../bench/stats.js';

export interface MeshResult {
  peers: number;
  /** Relay allocations open once every pair is connected, all peers together. */
  allocations: number;
  /** The same per peer (every peer does the same, each under its own user id). */
  perPeer: number;
  /** Per peer per link: libwebrtc's allocations per peer connection (URLs × local interfaces). */
  perLink: number;
  /** The bundled relay's default per-user quota (TURN_USER_QUOTA). */
  defaultUserQuota: number;
  /** From connect() of the first peer until every pair reports a relayed path, ms. */
  connectMs: number;
  /** Allocates the relay refused with 486 (Allocation Quota Reached). */
  refusedForQuota: number;
}

/** Generous: N relay-only wrtc peers on two busy cores. */
const CONNECT_TIMEOUT_MS = 90_000;

/** `userQuota`: the relay's per-user quota for the run; default the bundled relay's default. */
export async function meshAllocations(n: number, userQuota?: number): Promise<MeshResult> {
  const defaultUserQuota = loadTurnConfig({}).userQuota;
  const relay = await startRelay({
    ...loadTurnConfig({
      // Port 0: the relay finds a number free for both UDP and TCP itself.
      TURN_PORT: '0',
      TURN_TLS_PORT: '0',
      TURN_ALLOWED_PEER_IPS: '127.0.0.0/8',
      TURN_USER_QUOTA: String(userQuota ?? defaultUserQuota),
      TURN_TOTAL_QUOTA: '100000',
    }),
    secrets: [TEST_TURN_SECRET],
  });
  const sig = await startSignaling(
    { RATE_LIMIT_PER_S: '1000', RATE_LIMIT_BURST: '1000' },
    { embeddedRelay: relay.address },
  );
  const rooms: Room[] = [];
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i++)
      rooms.push(
        await connect({
          url: sig.wsUrl,
          token: sig.token(`mesh-${i}`, ['mesh']),
          room: 'mesh',
          iceTransportPolicy: 'relay',
        }),
      );
    const allRelayed = () =>
      rooms.every((r) => {
        const others = r.peers();
        return others.length === n - 1 && others.every((p) => p.path === 'relay');
      });
    const deadline = t0 + CONNECT_TIMEOUT_MS;
    while (!allRelayed()) {
      if (performance.now() > deadline) {
        const paths = rooms.map((r) =>
          r
            .peers()
            .map((p) => p.path)
            .join(','),
        );
        throw new Error(`mesh of ${n} did not connect relay-only: ${paths.join(' | ')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const connectMs = performance.now() - t0;
    // Candidates gathered after the chosen pair still allocate; let them land before counting.
    await new Promise((r) => setTimeout(r, 1500));
    const { allocations, counters } = relay.stats();
    return {
      peers: n,
      allocations,
      perPeer: round(allocations / n, 1),
      perLink: round(allocations / (n * (n - 1)), 1),
      defaultUserQuota,
      connectMs: round(connectMs, 0),
      refusedForQuota: counters.allocate.get('486') ?? 0,
    };
  } finally {
    await Promise.allSettled(rooms.map((r) => r.close()));
    await sig.close();
    await relay.close();
  }
}
