/**
 * The SDK's public API, browser entry: nothing here imports a Node built-in, `ws` or @roamhq/wrtc (Node
 * apps get `node.ts` through the package's `node` export condition). Everything not exported here is
 * internal and may change.
 */
import { openRoom, type ConnectOptions } from './connect.js';
import { SdkError } from './errors.js';
import { browserPlatform, hasBrowserWebRtc } from './platform/browser.js';
import type { Room } from './room.js';

export type { ConnectOptions } from './connect.js';

/** Join a room with the page's WebSocket and RTCPeerConnection (or `options.platform`). */
export function connect(options: ConnectOptions): Promise<Room> {
  return openRoom(options, () =>
    hasBrowserWebRtc()
      ? Promise.resolve(browserPlatform())
      : Promise.reject(
          new SdkError(
            'platform_unsupported',
            'No WebRTC here: in Node import the package through its `node` export (the default there), or pass `platform`',
          ),
        ),
  );
}
export type {
  Room,
  RoomEvents,
  RemotePeer,
  SendOptions,
  Path,
  LinkEvent,
  SignalingState,
  JoinKind,
  AppData,
  MemberMeta,
  PeerLeftReason,
  P2pFailureReason,
  PeerStats,
} from './room.js';
export type { ConnectionQuality } from './peer/link-stats.js';
export { SdkError, SDK_ERROR_CODES, P2P_FAILURE_REASONS, type SdkErrorCode } from './errors.js';
export {
  ExponentialBackoffPolicy,
  type ReconnectPolicy,
  type ReconnectContext,
  type BackoffOptions,
} from './signaling/reconnect-policy.js';
export { DEFAULTS } from './defaults.js';
export { reportCallSetup, type CallSetupReport, type CallSetupTelemetryOptions } from './telemetry.js';
export type { Clock } from './clock.js';
export type { Platform } from './platform/platform.js';
export { browserPlatform } from './platform/browser.js';
export { ERROR_CODES, type ErrorCode, type IceServer } from '../signaling/protocol/light/index.js';
