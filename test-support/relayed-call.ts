/**
 * Relay-only calls for TURN interop tests: the bundled relay on loopback, two @roamhq/wrtc peers joined
 * through signaling with `iceTransportPolicy: 'relay'`, the selected candidate pair read from getStats,
 * and a numbered message stream each way so a test can tell "still flowing" from "flowed once".
 */
import SimplePeer from 'simple-peer';
import type { IceServer } from '../signaling/protocol/index.js';
import { loadTurnConfig } from '../turn/config.js';
import { startRelay, type RelayOptions } from '../turn/relay/start-relay.js';
import type { Relay } from '../turn/relay/relay.js';
import { freeUdpPort } from './processes.js';
import { TEST_TURN_SECRET, type RunningSignaling } from './signaling.js';
import { joinAsPeer, type TestPeer } from './webrtc-peer.js';

/** How long two relay-only peers get to connect on loopback; generous for two busy cores. */
export const CONNECT_TIMEOUT_MS = 30_000;

/**
 * The bundled relay on 127.0.0.1 with the test secret. Loopback peers are allowed explicitly: the peer
 * policy denies them by default, and in these tests every peer (the other side's relay address) is local.
 */
export async function startLoopbackRelay(options: Partial<RelayOptions> = {}): Promise<Relay> {
  const port = await freeUdpPort();
  return startRelay({
    ...loadTurnConfig({ TURN_PORT: String(port), TURN_TLS_PORT: '0' }),
    secrets: [TEST_TURN_SECRET],
    allowedPeers: ['127.0.0.0/8'],
    // One event loop unless a test asks for workers: these tests read stats() right after traffic, and a
    // worker relay's figures are the workers' reports, summed every 200 ms. Worker relays have their own
    // tests (relay-workers.e2e, multi-address.e2e) and run under `npm start` on Node 26.
    workers: 1,
    ...options,
  });
}

export function turnUrl(port: number, transport: 'udp' | 'tcp' = 'udp'): string {
  return `turn:127.0.0.1:${port}?transport=${transport}`;
}

/** Reject with a message naming `what` unless `promise` settles within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** ICE servers from POST /v1/turn-credentials: the other way signaling hands out relay credentials. */
export async function fetchIceServers(sig: RunningSignaling, token: string): Promise<IceServer[]> {
  const res = await fetch(`${sig.httpUrl}/v1/turn-credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5_000),
  });
  if (res.status !== 200) throw new Error(`turn-credentials answered ${res.status}`);
  return ((await res.json()) as { iceServers: IceServer[] }).iceServers;
}

export interface RelayedCall {
  a: TestPeer;
  b: TestPeer;
  close(): Promise<void>;
}

/**
 * Two relay-only peers in `room`, connected. By default alice takes the ICE servers from her welcome
 * and bob fetches his from POST /v1/turn-credentials, so both ways signaling mints credentials are used;
 * `iceServers` replaces both (e.g. credentials minted with a short TTL).
 */
export async function relayOnlyCall(
  sig: RunningSignaling,
  room: string,
  iceServers?: IceServer[],
): Promise<RelayedCall> {
  const a = await joinAsPeer(sig.wsUrl, sig.token('alice', [room]), room, {
    relayOnly: true,
    ...(iceServers ? { iceServers } : {}),
  });
  const bobToken = sig.token('bob', [room]);
  let b: TestPeer;
  try {
    b = await joinAsPeer(sig.wsUrl, bobToken, room, {
      relayOnly: true,
      iceServers: iceServers ?? (await fetchIceServers(sig, bobToken)),
    });
  } catch (err) {
    await a.close();
    throw err;
  }
  // Idempotent: a test may end the call itself and leave the same close to its teardown.
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= Promise.all([a.close(), b.close()]).then(() => undefined));
  try {
    await within(Promise.all([a.connected, b.connected]), CONNECT_TIMEOUT_MS, 'relay-only peers connect');
  } catch (err) {
    await close();
    throw err;
  }
  return { a, b, close };
}

export interface CandidatePair {
  local: string | undefined;
  remote: string | undefined;
  /** Address of the local relay candidate: which relay the pair runs through. */
  localAddress: string | undefined;
  localPort: number | undefined;
  /** For a relay candidate, how the client reaches its relay: 'udp', 'tcp' or 'tls'. */
  relayProtocol: string | undefined;
}

interface StatsEntry {
  type: string;
  id: string;
  selectedCandidatePairId?: string;
  state?: string;
  nominated?: boolean;
  localCandidateId?: string;
  remoteCandidateId?: string;
  candidateType?: string;
  address?: string;
  ip?: string;
  port?: number;
  relayProtocol?: string;
}

/** Candidate types ('host', 'srflx', 'relay') of both ends of the selected pair, from getStats. */
export async function selectedPair(link: SimplePeer.Instance): Promise<CandidatePair> {
  const pc = (link as unknown as { _pc: RTCPeerConnection })._pc;
  const entries: StatsEntry[] = [];
  (await pc.getStats()).forEach((s: StatsEntry) => entries.push(s));
  const byId = new Map(entries.map((s) => [s.id, s]));
  const pairId = entries.find(
    (s) => s.type === 'transport' && s.selectedCandidatePairId,
  )?.selectedCandidatePairId;
  // Older stats have no transport entry naming the pair: fall back to the nominated, succeeded one.
  const pair =
    (pairId ? byId.get(pairId) : undefined) ??
    entries.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated);
  const local = pair?.localCandidateId ? byId.get(pair.localCandidateId) : undefined;
  const remote = pair?.remoteCandidateId ? byId.get(pair.remoteCandidateId) : undefined;
  return {
    local: local?.candidateType,
    remote: remote?.candidateType,
    localAddress: local?.address ?? local?.ip,
    localPort: local?.port,
    relayProtocol: local?.relayProtocol,
  };
}

/**
 * Numbered messages both ways on the reliable, ordered data channel: `send()` puts the next one on each
 * side; `lost()` lists what was sent but has not arrived, `misordered()` whether anything arrived out of
 * order or twice. Only messages with this stream's prefix count, so other traffic does not disturb it.
 */
export class MessageStream {
  sent = 0;

  constructor(
    private readonly call: RelayedCall,
    private readonly prefix = 'seq',
  ) {}

  send(): void {
    const n = this.sent++;
    this.call.a.link!.send(`${this.prefix}-ab-${n}`);
    this.call.b.link!.send(`${this.prefix}-ba-${n}`);
  }

  /** Messages of this stream `to` has received, in arrival order. */
  received(to: 'a' | 'b'): string[] {
    const tag = `${this.prefix}-${to === 'b' ? 'ab' : 'ba'}-`;
    return this.call[to].received.filter((m) => m.startsWith(tag));
  }

  /** Both sides have every message sent so far. */
  complete(): boolean {
    return this.received('a').length >= this.sent && this.received('b').length >= this.sent;
  }

  /** What each side received differs from exactly "0, 1, ..., sent-1" (a gap, a repeat, a reorder). */
  misordered(): boolean {
    for (const to of ['a', 'b'] as const) {
      const got = this.received(to);
      const tag = `${this.prefix}-${to === 'b' ? 'ab' : 'ba'}-`;
      if (got.some((m, i) => m !== `${tag}${i}`)) return true;
    }
    return false;
  }
}
