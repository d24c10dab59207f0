/**
 * A page that loads the SDK's browser bundle from `/relay-sdk.js` and exposes `window.start(options)`:
 * it joins a room, publishes video (the browser's camera, fake in tests, or a canvas), and records in
 * `window.state` what arrives: data, remote tracks with their decoded size, paths, link events, errors.
 * The same page runs in Firefox and Chromium, so both browsers run the same SDK code.
 */
export interface CallPageOptions {
  url: string;
  token: string;
  room: string;
  relayOnly: boolean;
  /** `camera`: getUserMedia (fake devices); `canvas`: a canvas stream; null: no media. */
  media: 'camera' | 'canvas' | null;
}

export interface CallPageState {
  peerId: string;
  got: Array<[string, string]>;
  tracks: Record<string, { id: string; width: number; time: number }>;
  ended: number;
  paths: Record<string, string>;
  links: Array<{ peerId: string; kind: string; reason: string }>;
  errors: string[];
}

export const CALL_PAGE = `<!doctype html><html><body><script type="module">
import * as sdk from '/relay-sdk.js';
const state = (window.state = { peerId: '', got: [], tracks: {}, ended: 0, paths: {}, links: [], errors: [] });
function media(kind) {
  if (kind === 'camera') return navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  const c = document.createElement('canvas');
  c.width = 160; c.height = 120;
  const g = c.getContext('2d');
  let hue = 0;
  setInterval(() => { g.fillStyle = 'hsl(' + (hue++ % 360) + ',80%,50%)'; g.fillRect(0, 0, 160, 120); }, 40);
  return Promise.resolve(c.captureStream(25));
}
window.start = async (o) => {
  const room = await sdk.connect({
    url: o.url, token: o.token, room: o.room,
    iceTransportPolicy: o.relayOnly ? 'relay' : 'all',
    p2pConnectTimeoutMs: 15000, iceDisconnectedGraceMs: 1000, statsIntervalMs: 500,
  });
  window.room = room;
  state.peerId = room.peerId;
  room.on('data', (e) => state.got.push([e.from, typeof e.data === 'string' ? e.data : 'binary']));
  room.on('path', (e) => (state.paths[e.peerId] = e.path));
  room.on('link', (e) => state.links.push({ peerId: e.peerId, kind: e.kind, reason: e.reason }));
  room.on('error', (e) => state.errors.push(e.error.code));
  room.on('track-ended', () => state.ended++);
  room.on('track', ({ peerId, track, stream }) => {
    const v = document.createElement('video');
    v.muted = true; v.autoplay = true; v.playsInline = true; v.srcObject = stream;
    document.body.append(v);
    const seen = (state.tracks[peerId] = { id: track.id, width: 0, time: 0 });
    setInterval(() => { seen.width = v.videoWidth; seen.time = v.currentTime; }, 100);
  });
  if (o.media) room.publish(await media(o.media));
  return room.peerId;
};
window.ready = true;
</script></body></html>`;
