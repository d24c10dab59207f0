import { describe, expect, it } from 'vitest';
import { routeSignal, shouldInitiate, ufragOfCandidate, ufragOfSdp, type LinkView } from './signal-router.js';

const offer = (ufrag: string) => ({ type: 'offer' as const, sdp: `v=0\r\na=ice-ufrag:${ufrag}\r\na=x\r\n` });
const answer = (ufrag: string) => ({ type: 'answer' as const, sdp: `v=0\r\na=ice-ufrag:${ufrag}\r\n` });
const cand = (ufrag: string | null) => ({
  type: 'candidate' as const,
  candidate: {
    candidate: `candidate:1 1 udp 2122 127.0.0.1 5000 typ host generation 0${ufrag ? ` ufrag ${ufrag}` : ''}`,
    sdpMid: '0',
    sdpMLineIndex: 0,
  },
});
const initiatorLink = (remoteUfrag: string | null): LinkView => ({
  initiator: true,
  remoteUfrag,
  localUfrag: 'L',
});
const answererLink = (remoteUfrag: string | null): LinkView => ({
  initiator: false,
  remoteUfrag,
  localUfrag: 'L',
});
const none = new Set<string>();

describe('signal routing across link replacement', () => {
  it('parses ufrags from SDP and libwebrtc candidate lines', () => {
    expect(ufragOfSdp(offer('abcd').sdp)).toBe('abcd');
    expect(ufragOfCandidate(cand('Zz9+').candidate.candidate)).toBe('Zz9+');
    expect(ufragOfCandidate(cand(null).candidate.candidate)).toBeNull();
  });

  it('the smaller peer id initiates, exactly one side of every pair', () => {
    expect(shouldInitiate('aaa', 'bbb')).toBe(true);
    expect(shouldInitiate('bbb', 'aaa')).toBe(false);
  });

  it('an offer with the current ufrag renegotiates; a new ufrag replaces the link; a retired one is stale', () => {
    expect(routeSignal(offer('u1'), null, none, true)).toBe('new-link');
    expect(routeSignal(offer('u1'), answererLink('u1'), none, true)).toBe('current');
    expect(routeSignal(offer('u2'), answererLink('u1'), none, true)).toBe('new-link');
    expect(routeSignal(offer('u1'), answererLink('u2'), new Set(['u1']), true)).toBe('drop');
  });

  it('glare: the polite (larger id) side yields to the remote offer, the other keeps its own', () => {
    expect(routeSignal(offer('u9'), initiatorLink(null), none, true)).toBe('new-link');
    expect(routeSignal(offer('u9'), initiatorLink(null), none, false)).toBe('drop');
  });

  it('answers and candidates of a replaced link are dropped', () => {
    const retired = new Set(['old']);
    expect(routeSignal(answer('old'), initiatorLink(null), retired, false)).toBe('drop');
    expect(routeSignal(answer('new'), initiatorLink(null), retired, false)).toBe('current');
    expect(routeSignal(cand('old'), initiatorLink(null), retired, false)).toBe('drop');
    expect(routeSignal(cand('new'), initiatorLink('new'), retired, false)).toBe('current');
    expect(routeSignal(cand('other'), initiatorLink('new'), retired, false)).toBe('drop');
    // Without a ufrag in the line (Firefox) the candidate goes to the current link, unless that link is a
    // replacement still waiting for its answer (then it can only be the old link's).
    expect(routeSignal(cand(null), initiatorLink('new'), retired, false)).toBe('current');
    expect(routeSignal(cand(null), initiatorLink(null), retired, false)).toBe('drop');
    expect(routeSignal(cand(null), initiatorLink(null), none, false)).toBe('current');
    expect(routeSignal(answer('x'), answererLink('x'), none, false)).toBe('drop');
  });
});
