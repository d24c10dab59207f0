// What the user sees for each failure they can hit. Keys are the SDK's stable error codes (SdkError.code,
// wire codes included) plus the demo's own codes for media and token failures; never message text.
const MESSAGES = {
  unauthorized: [
    'The server refused your token',
    'It is invalid, expired, or signed for another server. Get a fresh one (leave the token field empty to use the development token route).',
  ],
  forbidden_room: [
    'This token does not grant that room',
    'Ask for a token for this room, or pick the room it grants.',
  ],
  room_full: [
    'The room is full',
    'Every seat is taken. Try another room name, or wait for someone to leave.',
  ],
  already_joined: ['Already in a room', 'This connection has joined a room already.'],
  rate_limited: ['Slow down', 'The server is rate-limiting this connection.'],
  signaling_unavailable: [
    'Cannot reach the signaling server',
    'Is it running? It may also have refused this page’s origin or be full.',
  ],
  server_unreachable: [
    'The server is gone',
    'The page cannot reach the server. Is `npm start` still running?',
  ],
  connect_timeout: ['The server did not answer in time', 'It accepted the connection but never welcomed us.'],
  reconnect_gave_up: [
    'Lost the server for good',
    'Gave up reconnecting. Reload the page when the server is back.',
  ],
  server_draining: ['The server is restarting', 'Try again in a moment.'],
  signaling_lost: [
    'Lost the connection to the server',
    'Reconnecting… Peers you are connected to stay connected meanwhile; new peers cannot join you until it is back.',
  ],
  session_expired: ['Your session expired', 'Join again.'],
  dev_token_unavailable: [
    'No development token route',
    'This server runs in production mode: paste a token from your app’s backend under “Advanced”.',
  ],
  camera_denied: [
    'Camera or microphone permission denied',
    'Allow access in the browser’s address bar and join again. You are in the call without sending media.',
  ],
  no_device: ['No camera or microphone found', 'You are in the call without sending media.'],
  device_busy: [
    'The camera or microphone is in use',
    'Another application holds it. You are in the call without sending media.',
  ],
  screen_share_failed: ['Screen sharing did not start', 'It was cancelled or not permitted.'],
  peer_link_failed: ['A peer connection failed', 'Retrying; data goes through the server meanwhile.'],
  platform_unsupported: ['This browser has no WebRTC', 'Use a current Chrome, Firefox or Safari.'],
};

/** `{ code, title, detail }` for an SdkError, a DOMException from getUserMedia, or anything else. */
export function describeError(err) {
  const code = typeof err?.code === 'string' ? err.code : 'internal';
  const [title, detail] = MESSAGES[code] ?? [
    'Something went wrong',
    `${code}: ${err?.message ?? String(err)}`,
  ];
  return { code, title, detail };
}

/** A demo-level error with a stable code, shaped like the SDK's. */
export class DemoError extends Error {
  constructor(code, options) {
    super(MESSAGES[code]?.[0] ?? code, options);
    this.name = 'DemoError';
    this.code = code;
  }
}

/** getUserMedia / getDisplayMedia rejections, by DOMException name. */
export function mediaError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new DemoError('camera_denied', { cause: err });
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new DemoError('no_device', { cause: err });
    case 'NotReadableError':
    case 'AbortError':
      return new DemoError('device_busy', { cause: err });
    default:
      return new DemoError('camera_denied', { cause: err });
  }
}
