import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { advertisedAddress, listenAddresses, parseExternalIps, relayAddressFor } from './listen-addresses.js';

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '', cidr: null }) as unknown as NetworkInterfaceInfo;

/** A cloud VM's view: loopback, a private address, a Docker bridge, and IPv6 with a link-local. */
const host = {
  lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
  eth0: [nic('10.0.0.5', 'IPv4'), nic('2001:db8:1::5', 'IPv6'), nic('fe80::1', 'IPv6')],
  docker0: [nic('172.17.0.1', 'IPv4')],
};

describe('listenAddresses', () => {
  it('expands 0.0.0.0 and :: to every address of the host, link-local left out, IPv4 first', () => {
    expect(listenAddresses(['0.0.0.0', '::'], host)).toEqual([
      '10.0.0.5',
      '127.0.0.1',
      '172.17.0.1',
      '::1',
      '2001:db8:1::5',
    ]);
  });

  it('takes named addresses as they are, once each', () => {
    expect(listenAddresses(['127.0.0.1', '127.0.0.1', '::1'], host)).toEqual(['127.0.0.1', '::1']);
    expect(listenAddresses(['0.0.0.0'], {})).toEqual([]);
  });
});

describe('TURN_EXTERNAL_IP mappings (coturn external-ip)', () => {
  it('maps a private address to its public pair, loopback never, and the rest of a family to a bare one', () => {
    const m = parseExternalIps('203.0.113.7/10.0.0.5, 198.51.100.9, 2001:db8::7/2001:db8:1::5');
    expect(advertisedAddress('10.0.0.5', m)).toBe('203.0.113.7');
    expect(advertisedAddress('172.17.0.1', m)).toBe('198.51.100.9');
    expect(advertisedAddress('127.0.0.1', m)).toBe('127.0.0.1');
    expect(advertisedAddress('2001:db8:1::5', m)).toBe('2001:db8::7');
    expect(advertisedAddress('::1', m)).toBe('::1');
    expect(advertisedAddress('10.0.0.5', [])).toBe('10.0.0.5');
  });

  it.each(['nope', '1.2.3.4/5.6.7.8/9.9.9.9', '1.2.3.4/::1', '1.2.3.4/x'])('refuses %s', (text) => {
    expect(() => parseExternalIps(text)).toThrow(RangeError);
  });
});

describe('relayAddressFor', () => {
  const all = ['10.0.0.5', '127.0.0.1', '2001:db8:1::5', '::1'];
  it('follows the contacted address; for the other family keeps to loopback or not', () => {
    expect(relayAddressFor('10.0.0.5', 'IPv4', all)).toBe('10.0.0.5');
    expect(relayAddressFor('127.0.0.1', 'IPv6', all)).toBe('::1');
    expect(relayAddressFor('10.0.0.5', 'IPv6', all)).toBe('2001:db8:1::5');
    expect(relayAddressFor('::1', 'IPv4', all)).toBe('127.0.0.1');
    expect(relayAddressFor('127.0.0.1', 'IPv6', ['127.0.0.1'])).toBeUndefined();
  });
});
