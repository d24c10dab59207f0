/** The SDK's public API. Everything not exported here is internal and may change. */
export { connect, type ConnectOptions } from './connect.js';
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
} from './room.js';
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
export { ERROR_CODES, type ErrorCode, type IceServer } from '../signaling/protocol/index.js';
