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
    // perMessageDeflate off: the server disables it, and it costs memory per socket.
    createWebSocket: (url, protocols) =>
      new WebSocket(url, protocols, { perMessageDeflate: false }) as unknown as SocketLike,
  };
}
