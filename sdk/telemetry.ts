/**
 * Optional call-setup telemetry: for each peer, the time from learning of it to the pair's first working
 * path (direct, relay, or the WebSocket when peer-to-peer failed), posted once to signaling's
 * `POST /v1/telemetry` so operators see call setup and the share of pairs per path by region. Off unless
 * the app calls `reportCallSetup`; it sends no ids, no addresses, only the figure, the path and the
 * region hint. A failed post is dropped: telemetry never costs the call anything.
 */
import type { Room } from './room.js';

/** The report body; the server checks it against the same shape (signaling/client-telemetry.ts). */
export interface CallSetupReport {
  kind: 'call-setup';
  setupMs: number;
  path: 'direct' | 'relay' | 'websocket';
  region?: string;
}

export interface CallSetupTelemetryOptions {
  /** Signaling's HTTP(S) base URL, e.g. `https://signal.example.com`. */
  baseUrl: string;
  /** The app's current token (the same JWT the room connects with). */
  token: () => string;
  /** The region hint the app gives signaling (`?region=`), if any. */
  region?: string;
  /** ms clock; default `performance.now`. */
  now?: () => number;
}

/** Report each peer's call setup once; returns a function that stops reporting. */
export function reportCallSetup(
  room: Pick<Room, 'on' | 'peers'>,
  options: CallSetupTelemetryOptions,
): () => void {
  const now = options.now ?? (() => performance.now());
  const since = new Map<string, number>();
  // Members of the welcome were announced before connect() resolved: their setup counts from now.
  for (const peer of room.peers())
    if (peer.path !== 'direct' && peer.path !== 'relay') since.set(peer.peerId, now());
  const send = (peerId: string, path: CallSetupReport['path']) => {
    const start = since.get(peerId);
    if (start === undefined) return;
    since.delete(peerId);
    const report: CallSetupReport = {
      kind: 'call-setup',
      setupMs: Math.max(0, Math.round(now() - start)),
      path,
      ...(options.region !== undefined ? { region: options.region } : {}),
    };
    fetch(new URL('/v1/telemetry', options.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token()}` },
      body: JSON.stringify(report),
    }).catch(() => {});
  };
  const offs = [
    room.on('peer-joined', ({ peer }) => {
      if (!since.has(peer.peerId)) since.set(peer.peerId, now());
    }),
    room.on('path', ({ peerId, path }) => {
      if (path === 'direct' || path === 'relay') send(peerId, path);
    }),
    room.on('p2p-failed', ({ peerId }) => send(peerId, 'websocket')),
    room.on('peer-left', ({ peerId }) => since.delete(peerId)),
  ];
  return () => offs.forEach((off) => off());
}
