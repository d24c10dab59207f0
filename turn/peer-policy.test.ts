import { describe, expect, it } from 'vitest';
import { ipBytes } from './ip.js';
import { PeerPolicy, parseCidr } from './peer-policy.js';

describe('PeerPolicy', () => {
  const policy = new PeerPolicy();

  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '0.0.0.0',
    '10.1.2.3',
    '100.64.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '224.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    'fe80::1',
    'fc00::1',
    'fd00:ec2::254',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '::ffff:10.0.0.1',
    '::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::1',
    '64:ff9b::808:808', // well-known NAT64, even of a public IPv4 address
    '2001:db8::1', // documentation
    '2002:a00:1::', // 6to4 of 10.0.0.1
    '2002:a9fe:a9fe::1', // 6to4 of 169.254.169.254
    '2001:0:4136:e378::1', // Teredo
    'not-an-ip',
    '',
  ])('denies %s by default', (ip) => {
    expect(policy.permits(ip)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1'])(
    'permits %s',
    (ip) => {
      expect(policy.permits(ip)).toBe(true);
    },
  );

  it('lets the operator allow a denied range, IPv4-mapped forms included, and nothing more', () => {
    const loopback = new PeerPolicy({ allowed: ['127.0.0.0/8'] });
    expect(loopback.permits('127.0.0.1')).toBe(true);
    expect(loopback.permits('::ffff:127.0.0.1')).toBe(true);
    expect(loopback.permits('10.0.0.1')).toBe(false);
    expect(loopback.permits('169.254.169.254')).toBe(false);
  });

  it('lets the deny list win over the allow list', () => {
    const p = new PeerPolicy({ allowed: ['10.0.0.0/8'], denied: ['10.1.0.0/16', '8.8.8.8'] });
    expect(p.permits('10.2.0.1')).toBe(true);
    expect(p.permits('10.1.2.3')).toBe(false);
    expect(p.permits('8.8.8.8')).toBe(false);
  });

  it('parses CIDRs strictly', () => {
    expect(() => parseCidr('10.0.0.0/33')).toThrow(RangeError);
    expect(() => parseCidr('nope/8')).toThrow(RangeError);
    expect(parseCidr('::1').bits).toBe(128);
    expect(ipBytes('1.2.3.4')?.toString('hex')).toBe('00000000000000000000ffff01020304');
    expect(ipBytes('::ffff:1.2.3.4')?.toString('hex')).toBe('00000000000000000000ffff01020304');
  });
});
