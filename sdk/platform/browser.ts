/** The browser platform: the page's own WebSocket and RTCPeerConnection. */
import type { Platform, SocketLike } from './platform.js';

export function hasBrowserWebRtc(): boolean {
  return typeof globalThis.RTCPeerConnection === 'function' && typeof globalThis.WebSocket === 'function';
}

export function browserPlatform(): Platform {
  return {
    name: 'browser',
    wrtc: {
      RTCPeerConnection: globalThis.RTCPeerConnection,
      RTCSessionDescription: globalThis.RTCSessionDescription,
      RTCIceCandidate: globalThis.RTCIceCandidate,
    },
    createWebSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as SocketLike,
  };
}
