import { describe, expect, it } from 'vitest';
import { addressesInSignal, MAX_ADDRESSES_PER_SIGNAL } from './signal-addresses.js';

describe('addressesInSignal', () => {
  it('reads a trickled candidate and its related address', () => {
    expect(
      addressesInSignal({
        type: 'candidate',
        candidate: {
          candidate:
            'candidate:842163049 1 udp 1677729535 203.0.113.7 51234 typ srflx raddr 10.0.0.5 rport 51234 generation 0',
          sdpMid: '0',
        },
      }),
    ).toEqual(['203.0.113.7', '10.0.0.5']);
    expect(
      addressesInSignal({
        type: 'candidate',
        candidate: { candidate: 'candidate:1 1 UDP 2122252543 2001:DB8::1 40000 typ host', sdpMid: '0' },
      }),
    ).toEqual(['2001:db8::1']);
  });

  it('reads the candidates and connection lines of an SDP from a peer that does not trickle', () => {
    const sdp = [
      'v=0',
      'o=- 1 2 IN IP4 127.0.0.1',
      'c=IN IP4 198.51.100.4',
      'a=candidate:1 1 udp 2130706431 192.168.1.20 5000 typ host',
      'a=candidate:2 1 udp 1694498815 198.51.100.4 5000 typ srflx raddr 192.168.1.20 rport 5000',
      'a=candidate:3 1 udp 2130706431 7f1a2b3c-0000-4000-8000-000000000000.local 5001 typ host',
      'a=candidate:4 1 udp 16777215 0.0.0.0 9 typ relay raddr 0.0.0.0 rport 9',
    ].join('\r\n');
    expect(addressesInSignal({ type: 'offer', sdp })).toEqual(['198.51.100.4', '192.168.1.20']);
  });

  it('caps what one signal can announce, and ignores anything that is not an address', () => {
    const lines = Array.from(
      { length: 500 },
      (_, i) => `a=candidate:${i} 1 udp 1 10.0.${i >> 8}.${i & 255} 9 typ host`,
    );
    expect(addressesInSignal({ type: 'answer', sdp: lines.join('\n') })).toHaveLength(
      MAX_ADDRESSES_PER_SIGNAL,
    );
    expect(addressesInSignal({ type: 'candidate', candidate: { candidate: 'garbage' } })).toEqual([]);
    expect(addressesInSignal({ type: 'renegotiate', renegotiate: true })).toEqual([]);
  });
});
