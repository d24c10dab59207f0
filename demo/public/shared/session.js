// Joining a room from a demo page: a token (pasted, or from the development route), the SDK's connect()
// with the relay-only switch and optional ICE override, and a diagnosis of failures into typed codes.
import { connect, browserPlatform, SdkError } from '/vendor/relay-sdk.js';
import { DemoError } from './errors.js';

/**
 * Page settings from the URL, so a link can prefill the form: `room`, `name`, `relay=1` (relay only),
 * `ice=<url>[,<url>]` (replace the server's ICE servers, e.g. a dead relay to force the WebSocket path),
 * `p2pTimeout=<ms>` (how long P2P may take before data moves to the WebSocket path).
 */
export function urlSettings() {
  const q = new URLSearchParams(location.search);
  const ice = q.get('ice');
  const p2p = Number(q.get('p2pTimeout'));
  return {
    room: q.get('room') ?? '',
    name: q.get('name') ?? '',
    relayOnly: q.get('relay') === '1',
    iceServers: ice
      ? ice.split(',').map((urls) => ({ urls, username: 'demo', credential: 'demo' }))
      : undefined,
    p2pConnectTimeoutMs: Number.isFinite(p2p) && p2p > 0 ? p2p : undefined,
  };
}

export function signalingUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
}

/** A user id the token route accepts, derived from the display name (which goes in meta as typed). */
export function userIdFor(name) {
  const slug =
    name
      .toLowerCase()
      .replace(/[^\w.@-]+/g, '-')
      .slice(0, 40) || 'guest';
  return `${slug}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A token from the development route (`GET /dev/token`), which production servers do not have. */
export async function devToken(room, userId) {
  let res;
  try {
    res = await fetch(`/dev/token?room=${encodeURIComponent(room)}&user=${encodeURIComponent(userId)}`);
  } catch (err) {
    throw new DemoError('server_unreachable', { cause: err });
  }
  if (res.status === 404) throw new DemoError('dev_token_unavailable');
  if (!res.ok) throw new DemoError('forbidden_room', { cause: await res.text() });
  return (await res.json()).token;
}

/**
 * Browsers never see why a WebSocket upgrade was refused (the 401 body is hidden; the socket just
 * closes), so after `signaling_unavailable` ask the TURN credentials route, which checks the same token
 * over plain HTTP: 401 means the token is bad, no answer means the server is gone.
 */
async function diagnose(err, token) {
  if (!(err instanceof SdkError) || err.code !== 'signaling_unavailable') return err;
  try {
    const res = await fetch('/v1/turn-credentials', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status === 401) return new SdkError('unauthorized', undefined, { cause: err });
    return err;
  } catch (cause) {
    return new DemoError('server_unreachable', { cause });
  }
}

/**
 * The browser platform with every RTCPeerConnection the SDK creates remembered, so the page can read
 * `getStats()` for the overlay. Used only while the Room has no per-peer stats accessor of its own.
 */
function trackingPlatform(connections) {
  const base = browserPlatform();
  const Native = base.wrtc.RTCPeerConnection;
  class TrackedPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      connections.add(this);
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'closed') connections.delete(this);
      });
    }
  }
  return { ...base, wrtc: { ...base.wrtc, RTCPeerConnection: TrackedPeerConnection } };
}

/**
 * Join `room`; resolves `{ room, statsOf(peerId), remoteTrackIds }` or rejects with a typed error
 * (SdkError or DemoError, both with `code`).
 */
export async function joinRoom({ room, name, token, relayOnly, iceServers, p2pConnectTimeoutMs, extraMeta }) {
  const userId = userIdFor(name);
  const jwt = token || (await devToken(room, userId));
  const connections = new Set();
  const remoteTracks = new Map(); // peerId -> Set of track ids
  let joined;
  try {
    joined = await connect({
      url: signalingUrl(),
      token: jwt,
      // A development token lives an hour: the SDK fetches the next one before it expires and hands it
      // over the open socket. A pasted token cannot be renewed; the server closes the call at its expiry.
      ...(token ? {} : { getToken: () => devToken(room, userId) }),
      room,
      meta: { name, ...extraMeta },
      platform: trackingPlatform(connections),
      iceTransportPolicy: relayOnly ? 'relay' : 'all',
      ...(iceServers ? { iceServers } : {}),
      ...(p2pConnectTimeoutMs ? { p2pConnectTimeoutMs } : {}),
      statsIntervalMs: 1000,
    });
  } catch (err) {
    throw await diagnose(err, jwt);
  }
  joined.on('track', ({ peerId, track }) => {
    if (!remoteTracks.has(peerId)) remoteTracks.set(peerId, new Set());
    remoteTracks.get(peerId).add(track.id);
  });
  joined.on('peer-left', ({ peerId }) => remoteTracks.delete(peerId));

  /** The stats report of the link to `peerId`, or null while it has none (no link, or no media yet). */
  const statsOf = async (peerId) => {
    if (typeof joined.getStats === 'function') return joined.getStats(peerId);
    const ids = remoteTracks.get(peerId);
    if (!ids) return null;
    for (const pc of connections) {
      if (pc.getReceivers().some((r) => r.track && ids.has(r.track.id))) return pc.getStats();
    }
    return null;
  };
  return { room: joined, userId, statsOf };
}
