// A dependency-free check that signaling, TURN and WebRTC work end to end in a browser: the dev token
// route, the WebSocket protocol, and native RTCPeerConnection data channels (the newcomer offers).
const $ = (id) => document.getElementById(id);
const log = (text, cls) => {
  const line = document.createElement('div');
  line.textContent = text;
  if (cls) line.className = cls;
  $('log').append(line);
};
const links = new Map(); // peerId -> { pc, channel, name }
let ws;
let iceServers = [];
let relayOnly = false;

function renderPeers() {
  const open = [...links.entries()].filter(([, l]) => l.channel?.readyState === 'open');
  $('peers').innerHTML = '';
  if (open.length === 0) $('peers').textContent = 'none yet';
  for (const [id, l] of open) {
    const span = document.createElement('span');
    span.className = 'peer';
    span.dataset.peer = id;
    span.textContent = `${l.name} (${l.path ?? '…'})`;
    $('peers').append(span);
  }
  const ready = open.length > 0;
  $('text').disabled = !ready;
  $('send').disabled = !ready;
}

function wire(peerId, channel) {
  const link = links.get(peerId);
  link.channel = channel;
  channel.onopen = async () => {
    log(`connected to ${link.name}`);
    link.path = await pathOf(link.pc);
    renderPeers();
  };
  channel.onclose = renderPeers;
  channel.onmessage = (e) => log(`${link.name}: ${e.data}`);
}

async function pathOf(pc) {
  const stats = await pc.getStats();
  for (const s of stats.values()) {
    if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      return stats.get(s.localCandidateId)?.candidateType === 'relay' ? 'relay' : 'direct';
    }
  }
  return 'unknown';
}

function link(peerId, name, initiator) {
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: relayOnly ? 'relay' : 'all' });
  links.set(peerId, { pc, channel: null, name });
  pc.onicecandidate = (e) => {
    if (e.candidate)
      send({ type: 'signal', to: peerId, signal: { type: 'candidate', candidate: e.candidate.toJSON() } });
  };
  pc.ondatachannel = (e) => wire(peerId, e.channel);
  if (initiator) {
    wire(peerId, pc.createDataChannel('chat'));
    pc.createOffer()
      .then((offer) => pc.setLocalDescription(offer))
      .then(() =>
        send({ type: 'signal', to: peerId, signal: { type: 'offer', sdp: pc.localDescription.sdp } }),
      );
  }
  return pc;
}

async function onSignal(from, signal) {
  const pc = links.get(from)?.pc ?? link(from, from.slice(0, 6), false);
  if (signal.type === 'offer') {
    await pc.setRemoteDescription(signal);
    await pc.setLocalDescription(await pc.createAnswer());
    send({ type: 'signal', to: from, signal: { type: 'answer', sdp: pc.localDescription.sdp } });
  } else if (signal.type === 'answer') {
    await pc.setRemoteDescription(signal);
  } else if (signal.type === 'candidate') {
    await pc.addIceCandidate(signal.candidate);
  }
}

function send(frame) {
  ws.send(JSON.stringify(frame));
}

$('join').onsubmit = async (e) => {
  e.preventDefault();
  $('join').querySelector('button').disabled = true;
  relayOnly = $('relay').checked;
  const room = $('room').value.trim();
  const name = $('name').value.trim() || `guest-${Math.random().toString(36).slice(2, 6)}`;
  const res = await fetch(`/dev/token?room=${encodeURIComponent(room)}&user=${encodeURIComponent(name)}`);
  if (!res.ok)
    return log(`could not get a dev token (${res.status}): is the server in development mode?`, 'err');
  const { token } = await res.json();
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  ws = new WebSocket(`${scheme}://${location.host}/v1/ws`, ['relay.v1', `bearer.${token}`]);
  ws.onopen = () => send({ type: 'join', id: 1, room, meta: { name } });
  ws.onclose = (e) => log(`signaling closed (${e.code})`, e.code === 1000 ? '' : 'err');
  ws.onmessage = async (e) => {
    const msg = JSON.parse(e.data);
    switch (msg.type) {
      case 'welcome':
        iceServers = msg.iceServers;
        log(`joined ${msg.room} as ${name}; ${msg.members.length} other member(s)`);
        for (const m of msg.members) link(m.peerId, String(m.meta?.name ?? m.userId), true);
        break;
      case 'peer-joined':
        log(`${msg.peer.meta?.name ?? msg.peer.userId} joined`);
        links.set(msg.peer.peerId, {
          pc: null,
          channel: null,
          name: String(msg.peer.meta?.name ?? msg.peer.userId),
        });
        break;
      case 'peer-left':
        links.get(msg.peerId)?.pc?.close();
        links.delete(msg.peerId);
        log(`a peer left (${msg.reason})`);
        renderPeers();
        break;
      case 'signal': {
        const known = links.get(msg.from);
        if (known && !known.pc) (links.delete(msg.from), link(msg.from, known.name, false));
        await onSignal(msg.from, msg.signal);
        break;
      }
      case 'error':
        log(`error ${msg.code}: ${msg.message}`, 'err');
        break;
      case 'reconnect':
        log('the server is restarting; reload to rejoin', 'err');
        break;
    }
  };
};

$('chat').onsubmit = (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text) return;
  for (const l of links.values()) if (l.channel?.readyState === 'open') l.channel.send(text);
  log(`me: ${text}`);
  $('text').value = '';
};
