// The arena: every player is a dot. Each page sends its position SEND_HZ times a second as unreliable
// data (a lost update is superseded by the next one, so retransmitting it would only add delay), pings
// every peer once a second for the latency column, and draws everyone it hears from.
import {
  $,
  el,
  showError,
  clearError,
  showNotice,
  pathBadge,
  setBadge,
  shownErrors,
  colorFor,
} from '../shared/ui.js';
import { joinRoom, urlSettings } from '../shared/session.js';
import { DemoError } from '../shared/errors.js';

const SEND_HZ = 30;
const SPEED = 240; // arena units per second
const ARENA = { width: 800, height: 500 };
const RADIUS = 14;
const PING_MS = 1000;
const POS = 'pos';
const PING = 'ping';

const settings = urlSettings();
const game = {
  phase: 'idle',
  session: null,
  name: '',
  me: { x: ARENA.width / 2, y: ARENA.height / 2 },
  seq: 0,
  keys: new Set(),
  players: new Map(), // peerId -> { name, x, y, seq, lastAt, latencyMs, count, rate, row, badge }
  timers: [],
  tickTimer: null,
  sentInLastSecond: 0,
  sendRate: 0,
};

$('room').value = settings.room || localStorage.getItem('demo.gameRoom') || 'arena';
$('name').value = settings.name || localStorage.getItem('demo.name') || '';
$('relay-only').checked = settings.relayOnly;

function setPhase(phase, text) {
  game.phase = phase;
  $('status').textContent = text ?? phase;
  $('status').dataset.phase = phase;
  $('join-form').hidden = phase === 'joined';
  $('arena').hidden = phase !== 'joined';
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
  localStorage.setItem('demo.gameRoom', room);
  localStorage.setItem('demo.name', name);
  setPhase('joining', `joining ${room}…`);
  try {
    game.session = await joinRoom({
      room,
      name,
      token: $('token').value.trim(),
      relayOnly,
      iceServers: settings.iceServers,
      p2pConnectTimeoutMs: settings.p2pConnectTimeoutMs,
    });
  } catch (err) {
    showError(err);
    setPhase('error', 'not joined');
    return;
  }
  game.name = name;
  // Start somewhere random so two new players do not sit on each other.
  game.me = { x: 80 + Math.random() * (ARENA.width - 160), y: 80 + Math.random() * (ARENA.height - 160) };
  const r = game.session.room;
  wireRoom(r);
  for (const peer of r.peers()) addPlayer(peer);
  $('relay-flag').hidden = !relayOnly;
  setPhase('joined', `in “${room}” as ${name}`);
  scheduleTicks();
  game.timers.push(setInterval(pingAll, PING_MS));
  game.timers.push(setInterval(everySecond, 1000));
  requestAnimationFrame(draw);
  $('field').focus();
}

function wireRoom(r) {
  r.on('peer-joined', ({ peer }) => addPlayer(peer));
  r.on('peer-left', ({ peerId }) => removePlayer(peerId));
  r.on('peer-rejoined', ({ peerId, previousPeerId }) => {
    const p = game.players.get(previousPeerId);
    game.players.delete(previousPeerId);
    if (p) game.players.set(peerId, p);
  });
  r.on('path', ({ peerId, path }) => {
    const p = game.players.get(peerId);
    if (p) setBadge(p.badge, path);
  });
  r.on('data', ({ from, channel, data }) => {
    if (typeof data !== 'string') return;
    if (channel === POS) onPosition(from, data);
    else if (channel === PING) onPing(from, data);
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
    if (error.code !== 'peer_link_failed') showError(error);
  });
  r.on('closed', ({ error }) => {
    if (game.phase !== 'joined') return;
    if (error) showError(error);
    teardown(error ? 'error' : 'left');
  });
}

// ---- players ----

function addPlayer(peer) {
  if (game.players.has(peer.peerId)) return;
  const name = String(peer.meta?.name || peer.userId);
  const badge = pathBadge(peer.path);
  const latency = el('span', { class: 'latency', textContent: '– ms' });
  const rate = el('span', { class: 'rate', textContent: '0/s' });
  const dot = el('span', { class: 'dot' });
  dot.style.background = colorFor(peer.peerId);
  const row = el(
    'li',
    { dataset: { peer: peer.peerId } },
    dot,
    el('span', { class: 'name', textContent: name }),
    badge,
    latency,
    rate,
  );
  $('players').append(row);
  game.players.set(peer.peerId, {
    name,
    x: null,
    y: null,
    seq: -1,
    lastAt: 0,
    latencyMs: null,
    count: 0,
    rate: 0,
    row,
    badge,
    latency,
    rateEl: rate,
  });
}

function removePlayer(peerId) {
  game.players.get(peerId)?.row.remove();
  game.players.delete(peerId);
}

function onPosition(from, text) {
  const p = game.players.get(from);
  const m = parse(text);
  if (!p || !m || typeof m.x !== 'number' || typeof m.y !== 'number') return;
  // Unordered delivery: an older update arriving late must not move the dot back.
  if (typeof m.seq === 'number' && m.seq <= p.seq) return;
  p.seq = typeof m.seq === 'number' ? m.seq : p.seq;
  p.x = m.x;
  p.y = m.y;
  p.lastAt = performance.now();
  p.count++;
}

function onPing(from, text) {
  const m = parse(text);
  const r = game.session?.room;
  if (!m || !r) return;
  if (typeof m.ping === 'number') {
    r.send(JSON.stringify({ pong: m.ping }), { to: from, channel: PING, reliable: false });
  } else if (typeof m.pong === 'number') {
    const p = game.players.get(from);
    if (!p) return;
    const rtt = performance.now() - m.pong;
    p.latencyMs = p.latencyMs === null ? rtt : p.latencyMs * 0.7 + rtt * 0.3;
  }
}

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// ---- loop ----

let lastTick = performance.now();
function tick() {
  const now = performance.now();
  const dt = Math.min(0.1, (now - lastTick) / 1000);
  lastTick = now;
  const k = game.keys;
  const dx = (k.has('right') ? 1 : 0) - (k.has('left') ? 1 : 0);
  const dy = (k.has('down') ? 1 : 0) - (k.has('up') ? 1 : 0);
  const norm = dx && dy ? Math.SQRT1_2 : 1;
  game.me.x = clamp(game.me.x + dx * norm * SPEED * dt, RADIUS, ARENA.width - RADIUS);
  game.me.y = clamp(game.me.y + dy * norm * SPEED * dt, RADIUS, ARENA.height - RADIUS);
  const r = game.session?.room;
  if (!r || game.phase !== 'joined') return;
  const message = JSON.stringify({
    x: Math.round(game.me.x * 10) / 10,
    y: Math.round(game.me.y * 10) / 10,
    seq: ++game.seq,
  });
  if (r.send(message, { channel: POS, reliable: false }) > 0) game.sentInLastSecond++;
}

/**
 * Run `tick` SEND_HZ times a second. setInterval drops ticks when the page is busy (two pages and a
 * video call on a small laptop); scheduling each tick against its deadline instead makes a late tick
 * followed by a prompt one, so the rate holds on average.
 */
function scheduleTicks() {
  const period = 1000 / SEND_HZ;
  let due = performance.now() + period;
  const loop = () => {
    if (game.phase !== 'joined') return;
    tick();
    const now = performance.now();
    due = Math.max(due + period, now - period); // catch up one missed tick at most
    game.tickTimer = setTimeout(loop, Math.max(0, due - now));
  };
  game.tickTimer = setTimeout(loop, period);
}

function pingAll() {
  const r = game.session?.room;
  if (!r) return;
  for (const peerId of game.players.keys()) {
    r.send(JSON.stringify({ ping: performance.now() }), { to: peerId, channel: PING, reliable: false });
  }
}

function everySecond() {
  game.sendRate = game.sentInLastSecond;
  game.sentInLastSecond = 0;
  $('send-rate').textContent = String(game.sendRate);
  for (const p of game.players.values()) {
    p.rate = p.count;
    p.count = 0;
    p.latency.textContent = p.latencyMs === null ? '– ms' : `${Math.round(p.latencyMs)} ms`;
    p.rateEl.textContent = `${p.rate}/s`;
  }
}

function clamp(v, lo, hi) {
  return Math.max(lo, Math.min(hi, v));
}

function draw() {
  if (game.phase !== 'joined') return;
  const ctx = $('field').getContext('2d');
  ctx.fillStyle = '#10151c';
  ctx.fillRect(0, 0, ARENA.width, ARENA.height);
  ctx.strokeStyle = '#1e2833';
  ctx.lineWidth = 1;
  for (let x = 50; x < ARENA.width; x += 50) line(ctx, x, 0, x, ARENA.height);
  for (let y = 50; y < ARENA.height; y += 50) line(ctx, 0, y, ARENA.width, y);
  const stale = performance.now() - 2000;
  for (const [peerId, p] of game.players) {
    if (p.x === null) continue;
    drawDot(ctx, p.x, p.y, colorFor(peerId), p.name, p.lastAt < stale);
  }
  drawDot(ctx, game.me.x, game.me.y, colorFor(game.session.room.peerId), `${game.name} (you)`, false, true);
  requestAnimationFrame(draw);
}

function line(ctx, x1, y1, x2, y2) {
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x2, y2);
  ctx.stroke();
}

function drawDot(ctx, x, y, color, label, stale, mine = false) {
  ctx.globalAlpha = stale ? 0.35 : 1;
  ctx.beginPath();
  ctx.arc(x, y, RADIUS, 0, Math.PI * 2);
  ctx.fillStyle = color;
  ctx.fill();
  if (mine) {
    ctx.lineWidth = 3;
    ctx.strokeStyle = '#fff';
    ctx.stroke();
  }
  ctx.fillStyle = '#e8eef5';
  ctx.font = '13px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillText(label, x, y - RADIUS - 6);
  ctx.globalAlpha = 1;
}

// ---- input ----

const KEYS = {
  ArrowLeft: 'left',
  ArrowRight: 'right',
  ArrowUp: 'up',
  ArrowDown: 'down',
  a: 'left',
  d: 'right',
  w: 'up',
  s: 'down',
};
window.addEventListener('keydown', (e) => {
  const k = KEYS[e.key];
  if (!k || game.phase !== 'joined' || e.target instanceof HTMLInputElement) return;
  e.preventDefault();
  game.keys.add(k);
});
window.addEventListener('keyup', (e) => {
  const k = KEYS[e.key];
  if (k) game.keys.delete(k);
});
window.addEventListener('blur', () => game.keys.clear());

$('leave').onclick = async () => {
  const r = game.session?.room;
  teardown('left');
  await r?.close();
};

function teardown(phase) {
  for (const t of game.timers) clearInterval(t);
  clearTimeout(game.tickTimer);
  game.timers = [];
  for (const id of [...game.players.keys()]) removePlayer(id);
  game.session = null;
  game.keys.clear();
  showNotice(null);
  clearError('signaling_lost');
  setPhase(phase, phase === 'left' ? 'left the arena' : 'disconnected');
}

// ---- test hooks ----

window.__demo = {
  get phase() {
    return game.phase;
  },
  get room() {
    return game.session?.room ?? null;
  },
  errors: shownErrors,
  me: () => ({ x: game.me.x, y: game.me.y, seq: game.seq, peerId: game.session?.room.peerId ?? null }),
  sendRate: () => game.sendRate,
  players: () =>
    [...game.players.entries()].map(([peerId, p]) => ({
      peerId,
      name: p.name,
      x: p.x,
      y: p.y,
      seq: p.seq,
      path: game.session?.room.peer(peerId)?.path ?? null,
      badge: p.badge.textContent,
      latencyMs: p.latencyMs,
      ratePerSecond: p.rate,
    })),
};
setPhase('idle', 'not joined');
