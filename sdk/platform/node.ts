/**
 * The Node platform: `ws` for signaling and @roamhq/wrtc for WebRTC. This is the only SDK file that
 * touches @roamhq/wrtc, so a replacement (or a fixed fork) changes one place.
 */
import wrtc from '@roamhq/wrtc';
import WebSocket from 'ws';
import type { Platform, SocketLike } from './platform.js';

export function nodePlatform(): Platform {
  return {
    name: 'node',
    wrtc: {
      RTCPeerConnection: wrtc.RTCPeerConnection,
      RTCSessionDescription: wrtc.RTCSessionDescription,
      RTCIceCandidate: wrtc.RTCIceCandidate,
      MediaStream: wrtc.MediaStream,
    },
    createWebSocket: (url, protocols) => createNodeSocket(url, protocols),
  };
}

/**
 * A `ws` socket that keeps what a refused upgrade said: its status and `Retry-After` (RFC 9110 §10.2.3:
 * seconds, or an HTTP date), which the SDK's reconnect honours (`server_busy`).
 */
function createNodeSocket(url: string, protocols: string[]): SocketLike {
  // perMessageDeflate off: the server disables it, and it costs memory per socket.
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
  const socket = ws as unknown as { refusal?: SocketLike['refusal'] };
  ws.on('unexpected-response', (_req, res) => {
    socket.refusal = { status: res.statusCode ?? 0, retryAfterMs: retryAfterMs(res.headers['retry-after']) };
    res.resume();
    // With a listener here ws leaves the handshake to us: terminate() aborts it, and close (1006) follows.
    ws.terminate();
  });
  return ws as unknown as SocketLike;
}

function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
