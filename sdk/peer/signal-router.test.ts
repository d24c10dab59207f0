import { describe, expect, it } from 'vitest';
import {
  routeSignal,
  sessionOfSdp,
  shouldInitiate,
  ufragOfCandidate,
  ufragOfSdp,
  type LinkView,
  type Retired,
} from './signal-router.js';

/** SDP as libwebrtc writes it: the `o=` session id names the RTCPeerConnection, the ufrag its ICE round. */
const sdp = (ufrag: string, session: string | null) =>
  `v=0\r\n${session ? `o=- ${session} 2 IN IP4 127.0.0.1\r\n` : ''}a=ice-ufrag:${ufrag}\r\na=x\r\n`;
const offer = (ufrag: string, session: string | null = null) => ({
  type: 'offer' as const,
  sdp: sdp(ufrag, session),
});
const answer = (ufrag: string, session: string | null = null) => ({
  type: 'answer' as const,
  sdp: sdp(ufrag, session),
});
const cand = (ufrag: string | null) => ({
  type: 'candidate' as const,
  candidate: {
    candidate: `candidate:1 1 udp 2122 127.0.0.1 5000 typ host generation 0${ufrag ? ` ufrag ${ufrag}` : ''}`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
});
const initiatorLink = (remoteUfrag: string | null, remoteSession: string | null = null): LinkView => ({
  initiator: true,
  remoteUfrag,
  remoteSession,
  localUfrag: 'L',
});
const answererLink = (remoteUfrag: string | null, remoteSession: string | null = null): LinkView => ({
  initiator: false,
  remoteUfrag,
  remoteSession,
  localUfrag: 'L',
});
const retiredOf = (ufrags: string[], sessions: string[] = []): Retired => ({
  ufrags: new Set(ufrags),
  sessions: new Set(sessions),
});
const none = retiredOf([]);

describe('signal routing across link replacement', () => {
  it('parses ufrags and session ids from SDP and libwebrtc candidate lines', () => {
    expect(ufragOfSdp(offer('abcd').sdp)).toBe('abcd');
    expect(sessionOfSdp(offer('abcd', '4611731400430051336').sdp)).toBe('4611731400430051336');
    expect(sessionOfSdp(offer('abcd').sdp)).toBeNull();
    expect(ufragOfCandidate(cand('Zz9+').candidate.candidate)).toBe('Zz9+');
    expect(ufragOfCandidate(cand(null).candidate.candidate)).toBeNull();
  });

  it('the smaller peer id initiates, exactly one side of every pair', () => {
    expect(shouldInitiate('aaa', 'bbb')).toBe(true);
    expect(shouldInitiate('bbb', 'aaa')).toBe(false);
  });

  it('an offer with the current ufrag renegotiates; a new ufrag replaces the link; a retired one is stale', () => {
    expect(routeSignal(offer('u1'), null, none)).toBe('new-link');
    expect(routeSignal(offer('u1'), answererLink('u1'), none)).toBe('current');
    expect(routeSignal(offer('u2'), answererLink('u1'), none)).toBe('new-link');
    expect(routeSignal(offer('u1'), answererLink('u2'), retiredOf(['u1']))).toBe('drop');
  });

  it('an ICE restart (new ufrag, same session) renegotiates the live link; a new session replaces it', () => {
    // What libwebrtc sends after setConfiguration changed the ICE servers: same o= session, new ufrag.
    expect(routeSignal(offer('u2', 's1'), answererLink('u1', 's1'), none)).toBe('current');
    expect(routeSignal(answer('u2', 's1'), initiatorLink('u1', 's1'), none)).toBe('current');
    // Its candidates follow the new ufrag once the link took the restart's description.
    expect(routeSignal(cand('u2'), answererLink('u2', 's1'), none)).toBe('current');
    expect(routeSignal(cand('u1'), answererLink('u2', 's1'), none)).toBe('drop');
    // A new RTCPeerConnection on the remote side: a new session id, whatever the ufrag.
    expect(routeSignal(offer('u1', 's2'), answererLink('u1', 's1'), none)).toBe('new-link');
    expect(routeSignal(offer('u3', 's1'), answererLink('u2', 's2'), retiredOf([], ['s1']))).toBe('drop');
    expect(routeSignal(answer('u3', 's9'), initiatorLink('u2', 's2'), none)).toBe('drop');
  });

  it('glare: an offer crossing ours goes to our link, where perfect negotiation settles it', () => {
    expect(routeSignal(offer('u9'), initiatorLink(null), none)).toBe('current');
  });

  it('answers and candidates of a replaced link are dropped', () => {
    const retired = retiredOf(['old']);
    expect(routeSignal(answer('old'), initiatorLink(null), retired)).toBe('drop');
    expect(routeSignal(answer('new'), initiatorLink(null), retired)).toBe('current');
    expect(routeSignal(cand('old'), initiatorLink(null), retired)).toBe('drop');
    expect(routeSignal(cand('new'), initiatorLink('new'), retired)).toBe('current');
    expect(routeSignal(cand('other'), initiatorLink('new'), retired)).toBe('drop');
    // Without a ufrag in the line (Firefox) the candidate goes to the current link, unless that link is a
    // replacement still waiting for its answer (then it can only be the old link's).
    expect(routeSignal(cand(null), initiatorLink('new'), retired)).toBe('current');
    expect(routeSignal(cand(null), initiatorLink(null), retired)).toBe('drop');
    expect(routeSignal(cand(null), initiatorLink(null), none)).toBe('current');
    // Either side may offer on a live link (perfect negotiation), so either may get an answer.
    expect(routeSignal(answer('x'), answererLink('x'), none)).toBe('current');
  });
});
