/**
 * The SDK's public API, Node entry (the package's `node` export condition): the browser entry's API, with
 * `connect()` defaulting to `ws` for signaling and @roamhq/wrtc for WebRTC. Both are optional peer
 * dependencies, loaded on first use, so a Node app that passes its own `platform` needs neither.
 */
import { openRoom, type ConnectOptions } from './connect.js';
import { SdkError } from './errors.js';
import { browserPlatform, hasBrowserWebRtc } from './platform/browser.js';
import type { Platform } from './platform/platform.js';
import type { Room } from './room.js';

export * from './index.js';

const MISSING =
  'The Node platform needs the optional peer dependencies `ws` and `@roamhq/wrtc`: npm install ws @roamhq/wrtc';

/** `ws` + @roamhq/wrtc; rejects with `platform_unsupported` (naming what to install) when either is missing. */
export async function loadNodePlatform(): Promise<Platform> {
  try {
    const { nodePlatform } = await import('./platform/node.js');
    return nodePlatform();
  } catch (err) {
    throw new SdkError('platform_unsupported', MISSING, { cause: err });
  }
}

/** Join a room; in Node the default platform is `loadNodePlatform()` (a runtime with WebRTC globals uses them). */
export function connect(options: ConnectOptions): Promise<Room> {
  return openRoom(options, () =>
    hasBrowserWebRtc() ? Promise.resolve(browserPlatform()) : loadNodePlatform(),
  );
}
