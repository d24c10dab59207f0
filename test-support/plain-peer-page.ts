/**
 * A page that speaks the signaling protocol and plain WebRTC, nothing of the SDK: the "standards peer"
 * of `signaling/PROTOCOL-PEERS.md`. `?mode=offer`: it offers as soon as it sees a member (with a `chat`
 * data channel and a canvas video track) and is perfect negotiation's impolite side (W3C WebRTC 1.0
 * §10.7): it ignores an offer that crosses its own. `?mode=answer`: it never offers; it answers every
 * offer, sending its video on the offered transceiver. Either way it echoes `hello plain` on `chat` with
 * `hello sdk`, and records what it saw in `window.plain`.
 */
export const PLAIN_PEER_PAGE = `<!doctype html><html><body><video id="v" autoplay muted playsinline></video>
<script>
const q = new URLSearchParams(location.search);
const mode = q.get('mode');
const plain = (window.plain = {
  candidates: 0, withoutUfrag: 0, got: [], viaSignaling: [], ignoredOffers: 0, answered: 0,
  iceStates: [], errors: [], videoWidth: 0,
});
const ws = new WebSocket(q.get('ws'), ['relay.v1', 'bearer.' + q.get('token')]);
let pc = null, remote = null, makingOffer = false;
const canvas = document.createElement('canvas');
canvas.width = 160; canvas.height = 120;
const g = canvas.getContext('2d');
let hue = 0;
setInterval(() => { g.fillStyle = 'hsl(' + (hue++ % 360) + ',80%,50%)'; g.fillRect(0, 0, 160, 120); }, 40);
const stream = canvas.captureStream(25);
const send = (m) => ws.send(JSON.stringify(m));
ws.onopen = () => send({ type: 'join', room: q.get('room') });
const signal = (s) => send({ type: 'signal', to: remote, signal: s });

function chat(ch) {
  ch.onmessage = (e) => { plain.got.push(e.data); if (e.data === 'hello plain') ch.send('hello sdk'); };
}

function makePc() {
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.onicecandidate = (e) => e.candidate && signal({ type: 'candidate', candidate: e.candidate.toJSON() });
  pc.oniceconnectionstatechange = () => plain.iceStates.push(pc.iceConnectionState);
  pc.ondatachannel = (e) => chat(e.channel);
  pc.ontrack = (e) => {
    const v = document.getElementById('v');
    v.srcObject = e.streams[0] || new MediaStream([e.track]);
    v.onresize = () => (plain.videoWidth = v.videoWidth);
  };
  if (mode !== 'offer') return;
  pc.onnegotiationneeded = async () => {
    try {
      makingOffer = true;
      await pc.setLocalDescription();
      signal({ type: 'offer', sdp: pc.localDescription.sdp });
    } catch (err) { plain.errors.push(String(err)); } finally { makingOffer = false; }
  };
  pc.addTrack(stream.getVideoTracks()[0], stream);
  chat(pc.createDataChannel('chat'));
}

function seen(peerId) {
  if (remote) return;
  remote = peerId;
  if (mode === 'offer') makePc();
}

ws.onmessage = async (e) => {
  const m = JSON.parse(e.data);
  if (m.type === 'welcome') m.members.forEach((p) => seen(p.peerId));
  else if (m.type === 'peer-joined') seen(m.peer.peerId);
  else if (m.type === 'data') plain.viaSignaling.push(m.payload);
  else if (m.type === 'signal') {
    const s = m.signal;
    try {
      if (s.type === 'offer' || s.type === 'answer') {
        if (!pc) { remote = m.from; makePc(); }
        if (s.type === 'offer' && mode === 'offer' && (makingOffer || pc.signalingState !== 'stable')) {
          plain.ignoredOffers++;
          return;
        }
        await pc.setRemoteDescription(s);
        if (s.type !== 'offer') return;
        if (mode === 'answer' && !pc.getSenders().some((x) => x.track)) pc.addTrack(stream.getVideoTracks()[0], stream);
        await pc.setLocalDescription();
        signal({ type: 'answer', sdp: pc.localDescription.sdp });
        plain.answered++;
      } else if (s.type === 'candidate') {
        plain.candidates++;
        if (!s.candidate.usernameFragment) plain.withoutUfrag++;
        await pc.addIceCandidate(s.candidate);
      }
    } catch (err) { plain.errors.push(s.type + ': ' + err); }
  }
};
</script></body></html>`;
