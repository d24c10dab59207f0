import { describe, expect, it } from 'vitest';
import { diagnose, parseCandidate, type CandidateInfo, type LinkObservations } from './p2p-diagnosis.js';

const c = (line: string): CandidateInfo => parseCandidate(line);
const host = (ip: string, proto = 'udp') => c(`candidate:1 1 ${proto} 2122260223 ${ip} 50000 typ host`);
const srflx = (ip: string) => c(`candidate:2 1 udp 1686052607 ${ip} 50001 typ srflx raddr 10.0.0.2 rport 1`);
const relay = (ip: string) => c(`candidate:3 1 udp 41885439 ${ip} 50002 typ relay raddr 1.2.3.4 rport 2`);
const TURN = ['turn:198.51.100.1:3478?transport=udp'];

function obs(o: Partial<LinkObservations>): LinkObservations {
  return { iceServerUrls: [], iceTransportPolicy: 'all', local: [], remote: [], errors: [], ...o };
}

describe('why a pair could not go P2P', () => {
  it('parses candidate lines (RFC 8839 §5.1), with or without the a= prefix', () => {
    expect(
      c('a=candidate:842163049 1 UDP 1677729535 203.0.113.5 51234 typ srflx raddr 10.0.0.2 rport 9'),
    ).toEqual({
      type: 'srflx',
      protocol: 'udp',
      address: '203.0.113.5',
    });
    expect(c('candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active').protocol).toBe('tcp');
    expect(c('garbage').type).toBe('unknown');
  });

  it('nothing known yet: no reason; relay only without any TURN server: no_relay_configured', () => {
    expect(diagnose(obs({ iceServerUrls: TURN }))).toBeNull();
    expect(diagnose(obs({ iceTransportPolicy: 'relay' }))).toBe('no_relay_configured');
  });

  it('no servers, host candidates only: no_relay_configured', () => {
    expect(diagnose(obs({ local: [host('10.0.1.2')], remote: [host('10.0.2.2')] }))).toBe(
      'no_relay_configured',
    );
  });

  it('TURN configured, no relay address: 401 → turn_unauthorized; 486 → turn_quota', () => {
    const base = { iceServerUrls: TURN, local: [host('10.0.1.2'), srflx('203.0.113.7')] };
    expect(diagnose(obs({ ...base, errors: [{ code: 401, url: TURN[0]! }] }))).toBe('turn_unauthorized');
    expect(diagnose(obs({ ...base, errors: [{ code: 486, url: TURN[0]! }] }))).toBe('turn_quota');
  });

  it('TURN configured, no relay: UDP answered (srflx) → turn_unreachable; nothing over UDP → udp_blocked', () => {
    const errors = [{ code: 701, url: TURN[0]! }];
    expect(
      diagnose(obs({ iceServerUrls: TURN, local: [host('10.0.1.2'), srflx('203.0.113.7')], errors })),
    ).toBe('turn_unreachable');
    expect(diagnose(obs({ iceServerUrls: TURN, local: [host('10.0.1.2')], errors }))).toBe('udp_blocked');
    // STUN only, no answer at all: UDP is blocked too.
    expect(diagnose(obs({ iceServerUrls: ['stun:198.51.100.1:3478'], local: [host('10.0.1.2')] }))).toBe(
      'udp_blocked',
    );
    // Relay-only policy hides srflx: no relay address then says the relay was not reached.
    expect(
      diagnose(
        obs({ iceServerUrls: TURN, iceTransportPolicy: 'relay', errors: [{ code: 701, url: TURN[0]! }] }),
      ),
    ).toBe('turn_unreachable');
  });

  it('a relay address, but the other side offers only private addresses: peer_denied_by_relay', () => {
    const local = [host('10.0.1.2'), srflx('203.0.113.7'), relay('198.51.100.1')];
    expect(diagnose(obs({ iceServerUrls: TURN, local, remote: [host('10.0.2.2'), host('x.local')] }))).toBe(
      'peer_denied_by_relay',
    );
    // The other side has a public or relayed address: every pair was tried and none answered.
    expect(
      diagnose(obs({ iceServerUrls: TURN, local, remote: [host('10.0.2.2'), srflx('203.0.113.9')] })),
    ).toBe('ice_timeout');
  });
});
