// The video call page: join with camera and microphone, a tile per remote stream with name, path badge
// and stats overlay, mute / camera off / screen share / device switching, and leave.
import { $, el, showError, clearError, showNotice, setBadge, pathBadge, shownErrors } from '../shared/ui.js';
import { joinRoom, urlSettings } from '../shared/session.js';
import { DemoError } from '../shared/errors.js';
import { summarize, formatSummary } from '../shared/stats.js';
import { openCameraAndMic, openTrack, openScreen, fillDevicePicker } from './media.js';

const CALL_CHANNEL = 'call';
const STATS_INTERVAL_MS = 1000;

const settings = urlSettings();
const call = {
  phase: 'idle', // idle | joining | joined | left | error
  session: null,
  local: null, // MediaStream (camera + mic) or null when media failed
  screen: null, // MediaStream while sharing
  tiles: new Map(), // key -> tile
  screenIds: new Map(), // peerId -> Set of stream ids the peer announced as screens
  summaries: new Map(), // peerId -> latest stats summary
  statsTimer: null,
};

$('room').value = settings.room || localStorage.getItem('demo.room') || 'demo';
$('name').value = settings.name || localStorage.getItem('demo.name') || '';
$('relay-only').checked = settings.relayOnly;

function setPhase(phase, text) {
  call.phase = phase;
  $('status').textContent = text ?? phase;
  $('status').dataset.phase = phase;
  $('join-form').hidden = phase === 'joined';
  $('call').hidden = phase !== 'joined';
  $('join').disabled = phase === 'joining';
}

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void join();
});

async function join() {
  clearError();
  const room = $('room').value.trim();
  const name = $('name').value.trim();
  const relayOnly = $('relay-only').checked;
  localStorage.setItem('demo.room', room);
  localStorage.setItem('demo.name', name);
  setPhase('joining', `joining ${room}…`);

  // Media first, so the permission prompt belongs to the click. Without media we still join (watch only).
  try {
    call.local = await openCameraAndMic($('camera-select').value, $('mic-select').value);
  } catch (err) {
    call.local = null;
    showError(err);
  }
  try {
    call.session = await joinRoom({
      room,
      name,
      token: $('token').value.trim(),
      relayOnly,
      iceServers: settings.iceServers,
      p2pConnectTimeoutMs: settings.p2pConnectTimeoutMs,
    });
  } catch (err) {
    stopLocalMedia();
    showError(err);
    setPhase('error', 'not joined');
    return;
  }
  const { room: r } = call.session;
  wireRoom(r);
  if (call.local) r.publish(call.local);
  addTile(localKey(), { peerId: r.peerId, name: `${name} (you)`, local: true, stream: call.local });
  for (const peer of r.peers()) addPeerTile(peer);
  $('relay-flag').hidden = !relayOnly;
  await refreshPickers();
  setPhase('joined', `in “${room}” as ${name}`);
  call.statsTimer = setInterval(() => void refreshStats(), STATS_INTERVAL_MS);
}

function wireRoom(r) {
  r.on('peer-joined', ({ peer }) => addPeerTile(peer));
  r.on('peer-left', ({ peerId }) => removePeerTiles(peerId));
  r.on('peer-rejoined', ({ peerId, previousPeerId }) => {
    removePeerTiles(previousPeerId);
    const peer = r.peer(peerId);
    if (peer) addPeerTile(peer);
  });
  r.on('track', ({ peerId, stream }) => onRemoteStream(peerId, stream));
  r.on('path', ({ peerId, path }) => {
    for (const t of call.tiles.values()) if (t.peerId === peerId && t.badge) setBadge(t.badge, path);
    if (path === 'direct' || path === 'relay') showP2pFailure(peerId, null);
  });
  // Why there is no media path, in words on the tile instead of a black square.
  r.on('p2p-failed', ({ peerId, reason, message }) => showP2pFailure(peerId, { reason, message }));
  r.on('data', ({ from, channel, data }) => {
    if (channel !== CALL_CHANNEL || typeof data !== 'string') return;
    onCallMessage(from, JSON.parse(data));
  });
  r.on('reconnecting', ({ attempt }) => {
    showError(new DemoError('signaling_lost'));
    showNotice(`Signaling connection lost; reconnecting (attempt ${attempt})…`);
  });
  r.on('resumed', () => {
    clearError('signaling_lost');
    showNotice(null);
  });
  r.on('error', ({ error }) => {
    // A failed peer link is replaced by the SDK on its own; the badge shows the path meanwhile.
    if (error.code === 'peer_link_failed') return;
    showError(error);
  });
  r.on('closed', ({ error }) => {
    if (call.phase !== 'joined') return;
    if (error) showError(error);
    teardown(error ? 'error' : 'left');
  });
}

// ---- tiles ----

const localKey = () => 'local:camera';

function addPeerTile(peer) {
  const key = `${peer.peerId}:main`;
  if (call.tiles.has(key)) return;
  addTile(key, { peerId: peer.peerId, name: displayName(peer), path: peer.path });
}

function displayName(peer) {
  return String(peer.meta?.name || peer.userId);
}

function addTile(key, { peerId, name, path, local = false, stream = null, screen = false }) {
  const video = el('video', { autoplay: true, playsInline: true, muted: local || screen });
  const label = el('span', { class: 'name', textContent: screen ? `${name} · screen` : name });
  const badge = local ? null : pathBadge(path ?? 'connecting');
  const overlay = local || screen ? null : el('div', { class: 'stats', textContent: 'waiting for media…' });
  const reason = local || screen ? null : el('p', { class: 'reason', role: 'status' });
  const node = el(
    'figure',
    { class: `tile${local ? ' local' : ''}${screen ? ' screen' : ''}`, dataset: { peer: peerId, key } },
    video,
    el('figcaption', {}, label, ...(badge ? [badge] : [])),
    ...(overlay ? [overlay] : []),
    ...(reason ? [reason] : []),
  );
  const tile = { key, peerId, name, local, screen, video, badge, overlay, reason, node, stream: null };
  call.tiles.set(key, tile);
  $('grid').append(node);
  if (stream) attach(tile, stream);
  return tile;
}

function attach(tile, stream) {
  tile.stream = stream;
  tile.node.classList.toggle('no-video', !stream);
  // The SDK reports each track of a stream; setting the same stream again would restart playback.
  if (tile.video.srcObject === stream) return;
  tile.video.srcObject = stream;
  // Autoplay with sound needs a user gesture: the Join click was one. If the browser still says no,
  // show a click-to-play hint instead of failing silently.
  tile.video.play().catch((err) => {
    if (err?.name === 'NotAllowedError') tile.node.classList.add('needs-click');
  });
  tile.node.onclick = () => {
    tile.node.classList.remove('needs-click');
    void tile.video.play().catch(() => {});
  };
}

function onRemoteStream(peerId, stream) {
  const peer = call.session.room.peer(peerId);
  if (!peer) return;
  const announced = call.screenIds.get(peerId)?.has(stream.id);
  const main =
    call.tiles.get(`${peerId}:main`) ??
    addTile(`${peerId}:main`, { peerId, name: displayName(peer), path: peer.path });
  const isScreen = announced || (main.stream && main.stream.id !== stream.id && main.stream.active);
  const tile = isScreen
    ? (call.tiles.get(`${peerId}:${stream.id}`) ??
      addTile(`${peerId}:${stream.id}`, { peerId, name: displayName(peer), path: peer.path, screen: true }))
    : main;
  attach(tile, stream);
  stream.onremovetrack = () => {
    if (stream.getTracks().length === 0 && tile.screen) removeTile(tile.key);
  };
}

function onCallMessage(from, message) {
  if (typeof message?.screen !== 'string') return;
  if (!call.screenIds.has(from)) call.screenIds.set(from, new Set());
  const ids = call.screenIds.get(from);
  if (message.on) {
    ids.add(message.screen);
    // The track may have arrived before the announcement and landed in the main tile.
    const main = call.tiles.get(`${from}:main`);
    if (main?.stream?.id === message.screen) {
      const stream = main.stream;
      main.stream = null;
      main.video.srcObject = null;
      onRemoteStream(from, stream);
    }
  } else {
    ids.delete(message.screen);
    removeTile(`${from}:${message.screen}`);
  }
}

function removeTile(key) {
  const tile = call.tiles.get(key);
  if (!tile) return;
  tile.video.srcObject = null;
  tile.node.remove();
  call.tiles.delete(key);
}

function removePeerTiles(peerId) {
  for (const t of [...call.tiles.values()]) if (t.peerId === peerId && !t.local) removeTile(t.key);
  call.summaries.delete(peerId);
  call.screenIds.delete(peerId);
}

function showP2pFailure(peerId, failure) {
  const tile = call.tiles.get(`${peerId}:main`);
  if (!tile?.reason) return;
  tile.node.classList.toggle('p2p-failed', failure !== null);
  tile.reason.textContent = failure ? `No media path: ${failure.message}.` : '';
  tile.reason.dataset.reason = failure?.reason ?? '';
}

// ---- stats overlay ----

async function refreshStats() {
  const session = call.session;
  if (!session || call.phase !== 'joined') return;
  for (const peer of session.room.peers()) {
    const report = await session.statsOf(peer.peerId).catch(() => null);
    const summary = report ? summarize(report, call.summaries.get(peer.peerId)) : undefined;
    if (summary) call.summaries.set(peer.peerId, summary);
    const tile = call.tiles.get(`${peer.peerId}:main`);
    if (tile?.overlay) {
      tile.overlay.textContent = summary
        ? formatSummary(summary, peer.path)
        : `RTT ${peer.rttMs ?? '–'} ms · ${peer.path === 'websocket' ? 'no media path' : 'waiting for media…'}`;
    }
  }
}

// ---- controls ----

function setPressed(button, pressed, text) {
  button.setAttribute('aria-pressed', String(pressed));
  button.textContent = text;
}

$('mute').onclick = () => {
  const track = call.local?.getAudioTracks()[0];
  if (!track) return showError(new DemoError('no_device'));
  // A disabled track sends silence: peers stay connected and unmuting is instant.
  track.enabled = !track.enabled;
  setPressed($('mute'), !track.enabled, track.enabled ? 'Mute' : 'Unmute');
};

$('camera').onclick = () => {
  const track = call.local?.getVideoTracks()[0];
  if (!track) return showError(new DemoError('no_device'));
  track.enabled = !track.enabled; // black frames while off
  setPressed($('camera'), !track.enabled, track.enabled ? 'Camera off' : 'Camera on');
  call.tiles.get(localKey())?.node.classList.toggle('camera-off', !track.enabled);
};

$('share').onclick = async () => {
  if (call.screen) return stopShare();
  let screen;
  try {
    screen = await openScreen();
  } catch (err) {
    return showError(err);
  }
  const track = screen.getVideoTracks()[0];
  const r = call.session.room;
  call.screen = screen;
  r.send(JSON.stringify({ screen: screen.id, on: true }), { channel: CALL_CHANNEL });
  r.publishTrack(track, screen);
  track.addEventListener('ended', () => stopShare()); // stopped from the browser's own UI
  addTile('local:screen', {
    peerId: r.peerId,
    name: 'Your screen',
    local: true,
    stream: screen,
    screen: true,
  });
  setPressed($('share'), true, 'Stop sharing');
};

function stopShare() {
  const screen = call.screen;
  if (!screen) return;
  call.screen = null;
  const r = call.session?.room;
  for (const track of screen.getTracks()) {
    r?.unpublishTrack(track, screen);
    track.stop();
  }
  if (r && call.phase === 'joined')
    r.send(JSON.stringify({ screen: screen.id, on: false }), { channel: CALL_CHANNEL });
  removeTile('local:screen');
  setPressed($('share'), false, 'Share screen');
}

async function refreshPickers() {
  for (const id of ['mute', 'camera', 'camera-select', 'mic-select']) $(id).disabled = !call.local;
  await fillDevicePicker(
    $('camera-select'),
    'videoinput',
    call.local?.getVideoTracks()[0]?.getSettings().deviceId,
  );
  await fillDevicePicker(
    $('mic-select'),
    'audioinput',
    call.local?.getAudioTracks()[0]?.getSettings().deviceId,
  );
}

async function switchDevice(kind, deviceId) {
  if (call.phase !== 'joined' || !call.local) return;
  const old = kind === 'video' ? call.local.getVideoTracks()[0] : call.local.getAudioTracks()[0];
  if (old?.getSettings().deviceId === deviceId) return;
  let track;
  try {
    track = await openTrack(kind, deviceId);
  } catch (err) {
    return showError(err);
  }
  const r = call.session.room;
  if (old) {
    track.enabled = old.enabled; // keep mute / camera-off across the switch
    r.unpublishTrack(old, call.local);
    call.local.removeTrack(old);
    old.stop();
  }
  call.local.addTrack(track);
  r.publishTrack(track, call.local);
}

$('camera-select').onchange = (e) => void switchDevice('video', e.target.value);
$('mic-select').onchange = (e) => void switchDevice('audio', e.target.value);

$('leave').onclick = async () => {
  const r = call.session?.room;
  call.phase = 'leaving';
  teardown('left');
  await r?.close();
};

function stopLocalMedia() {
  for (const track of call.local?.getTracks() ?? []) track.stop();
  call.local = null;
}

function teardown(phase) {
  stopShare();
  stopLocalMedia();
  clearInterval(call.statsTimer);
  call.statsTimer = null;
  for (const key of [...call.tiles.keys()]) removeTile(key);
  call.summaries.clear();
  call.screenIds.clear();
  call.session = null;
  showNotice(null);
  clearError('signaling_lost');
  setPressed($('mute'), false, 'Mute');
  setPressed($('camera'), false, 'Camera off');
  setPhase(phase, phase === 'left' ? 'left the call' : 'disconnected');
}

// ---- test hooks: read state without scraping; the tests still drive the page through its controls ----

window.__demo = {
  get phase() {
    return call.phase;
  },
  get room() {
    return call.session?.room ?? null;
  },
  errors: shownErrors,
  peers: () =>
    (call.session?.room.peers() ?? []).map((p) => ({
      peerId: p.peerId,
      name: displayName(p),
      path: p.path,
      rttMs: p.rttMs,
    })),
  tiles: () =>
    [...call.tiles.values()].map((t) => ({
      key: t.key,
      peerId: t.peerId,
      name: t.name,
      local: t.local,
      screen: t.screen,
      badge: t.badge?.textContent ?? null,
      videoWidth: t.video.videoWidth,
      trackIds: t.stream?.getTracks().map((x) => x.id) ?? [],
    })),
  local: () => ({
    audioEnabled: call.local?.getAudioTracks()[0]?.enabled ?? null,
    videoEnabled: call.local?.getVideoTracks()[0]?.enabled ?? null,
    sharing: call.screen !== null,
    streamId: call.local?.id ?? null,
  }),
  /** Fresh stats per peer: path, RTT, candidate types and per-track inbound counters. */
  stats: async () => {
    const session = call.session;
    if (!session) return [];
    const out = [];
    for (const p of session.room.peers()) {
      const report = await session.statsOf(p.peerId);
      out.push({
        peerId: p.peerId,
        path: p.path,
        ...(report ? summarize(report, call.summaries.get(p.peerId)) : {}),
      });
    }
    return out;
  },
};
setPhase('idle', 'not joined');
