// Small DOM pieces both demo pages share: the error banner, path badges, and a stats summary.
import { describeError } from './errors.js';

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node[k] = v;
  }
  node.append(...children);
  return node;
}

/** Every error shown, for the page's test hooks: `{ code, title, at }`. */
export const shownErrors = [];

/** Show an error in the banner area (role=alert); the same code replaces its earlier entry. */
export function showError(err) {
  const { code, title, detail } = describeError(err);
  shownErrors.push({ code, title, at: Date.now() });
  const box = $('errors');
  box.querySelector(`[data-code="${code}"]`)?.remove();
  const close = el('button', { class: 'dismiss', type: 'button', title: 'Dismiss', textContent: '×' });
  const item = el(
    'div',
    { class: 'error', dataset: { code }, role: 'alert' },
    el('strong', { textContent: title }),
    ' ',
    el('span', { textContent: detail }),
    el('code', { textContent: code }),
    close,
  );
  close.onclick = () => item.remove();
  box.append(item);
  if (err && typeof err === 'object' && 'cause' in err && err.cause) console.warn(code, err.cause);
}

export function clearError(code) {
  $('errors')
    .querySelectorAll(code ? `[data-code="${code}"]` : '.error')
    .forEach((n) => n.remove());
}

/** A status line for the signaling connection (reconnecting is a warning, not yet an error). */
export function showNotice(text) {
  const n = $('notice');
  n.textContent = text ?? '';
  n.hidden = !text;
}

export function pathBadge(path) {
  return el('span', { class: `badge path-${path}`, textContent: path, title: PATH_TITLES[path] ?? '' });
}

export function setBadge(badge, path) {
  badge.className = `badge path-${path}`;
  badge.textContent = path;
  badge.title = PATH_TITLES[path] ?? '';
}

const PATH_TITLES = {
  connecting: 'ICE is still looking for a path',
  direct: 'peer to peer, no relay',
  relay: 'through a TURN relay',
  websocket: 'no WebRTC path: data goes through the signaling server',
};

/** Stable color per id, for dots and avatars. */
export function colorFor(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  // Golden-angle steps spread neighbouring hashes around the wheel.
  return `hsl(${Math.round((h * 137.508) % 360)} 70% 55%)`;
}
