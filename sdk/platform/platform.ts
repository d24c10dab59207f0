/**
 * What the SDK needs from its environment, so one codebase runs in browsers and Node: a WebSocket and the
 * WebRTC constructors. `browser.ts` takes them from the page's globals; `node.ts` from `ws` and
 * @roamhq/wrtc (the only file that imports it).
 */

/** The part of the browser WebSocket API the SDK uses; `ws` in Node provides the same. */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /**
   * The upgrade was refused with an HTTP status: the status and its `Retry-After` in ms, when the
   * platform can read them (Node; a browser's WebSocket sees only close 1006). Set before `onclose`.
   */
  readonly refusal?: { status: number; retryAfterMs: number | undefined };
}

/** The WebRTC constructors the SDK's links use. */
export interface WebRtcImplementation {
  RTCPeerConnection: unknown;
  RTCSessionDescription: unknown;
  RTCIceCandidate: unknown;
  /** For a remote track that arrives without a stream; the page's global when absent. */
  MediaStream?: unknown;
}

export interface Platform {
  readonly name: 'browser' | 'node';
  readonly wrtc: WebRtcImplementation;
  createWebSocket(url: string, protocols: string[]): SocketLike;
}

/** WebSocket readyState values (the same in browsers and `ws`). */
export const SOCKET_OPEN = 1;
