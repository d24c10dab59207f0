/**
 * Helpers for SDK tests: connect SDK rooms to a test signaling server, collect what they receive, and
 * drop a client's signaling socket from the server side (an abnormal close, so the seat is kept).
 */
import { beforeAll, vi } from 'vitest';
import { connect, type ConnectOptions } from '../sdk/node.js';
import type { Room, RoomEvents } from '../sdk/room.js';
import type { RunningSignaling } from './signaling.js';

export interface TestRoom {
  room: Room;
  user: string;
  /** Every `data` event, in arrival order. */
  received: RoomEvents['data'][];
  /** Every `path` event. */
  paths: RoomEvents['path'][];
  errors: RoomEvents['error'][];
  /** Strings received reliably from `from` on `channel`. */
  reliableFrom(from: string, channel?: string): string[];
}

/**
 * expect.poll gives up after 1 s by default; WebRTC on two busy cores (CI runs suites side by side) needs
 * more. Polls wait for an outcome, never assert a speed.
 */
export function useGenerousPolls(timeoutMs = 30_000): void {
  beforeAll(() => vi.setConfig({ expect: { poll: { timeout: timeoutMs, interval: 50 } } }));
}

/** Fast timings for tests on loopback; generous enough for two busy cores. */
export const TEST_TIMINGS: Partial<ConnectOptions> = {
  p2pConnectTimeoutMs: 10_000,
  iceRetryIntervalMs: 3_000,
  statsIntervalMs: 500,
  ackDelayMs: 20,
  retransmitMs: 1_000,
  pingIntervalMs: 2_000,
  pongTimeoutMs: 4_000,
};

export async function joinRoom(
  sig: RunningSignaling,
  user: string,
  room: string,
  options: Partial<ConnectOptions> = {},
): Promise<TestRoom> {
  const r = await connect({
    url: sig.wsUrl,
    token: sig.token(user, [room]),
    room,
    ...TEST_TIMINGS,
    ...options,
  });
  const t: TestRoom = {
    room: r,
    user,
    received: [],
    paths: [],
    errors: [],
    reliableFrom: (from, channel) =>
      t.received
        .filter((d) => d.from === from && d.reliable && d.channel === channel && typeof d.data === 'string')
        .map((d) => d.data as string),
  };
  r.on('data', (d) => t.received.push(d));
  r.on('path', (p) => t.paths.push(p));
  r.on('error', (e) => t.errors.push(e));
  return t;
}

/** Resolves once `room` reports a P2P path (direct or relay) to `peerId`. */
export function p2pTo(room: Room, peerId: string): Promise<void> {
  const isP2p = () => {
    const p = room.peer(peerId)?.path;
    return p === 'direct' || p === 'relay';
  };
  if (isP2p()) return Promise.resolve();
  return room
    .next('path', (e) => e.peerId === peerId && (e.path === 'direct' || e.path === 'relay'))
    .then(() => {});
}

/** Server side: terminate every client connection without a closing handshake (like a network drop). */
export function dropAllSignalingConnections(sig: RunningSignaling): number {
  const conns = (sig.server as unknown as { connections: Set<{ terminate(): void }> }).connections;
  const n = conns.size;
  for (const c of [...conns]) c.terminate();
  return n;
}
