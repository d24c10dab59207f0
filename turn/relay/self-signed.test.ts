/**
 * The development certificate: node and openssl both parse it, its signature verifies under its own key,
 * its names and validity are what was asked for, and a real TLS handshake with a client that trusts it
 * passes the host-name and IP checks.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { requireTool } from '../../test-support/tools.js';
import { ipBytes, selfSignedCertificate } from './self-signed.js';

const defer = closeAfterEach();
const NOW = Date.UTC(2026, 11, 1, 9, 0, 0);

describe('selfSignedCertificate', () => {
  it('makes a v3 certificate node parses, signed by its own key, with the SANs and validity asked for', () => {
    const { cert, key } = selfSignedCertificate({
      hosts: ['localhost', '127.0.0.1', '::1', 'relay.example'],
      days: 7,
      now: () => NOW,
    });
    expect(key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const x = new X509Certificate(cert);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subject).toBe('CN=localhost');
    expect(x.issuer).toBe('CN=localhost');
    expect(x.ca).toBe(false);
    expect(x.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:relay.example',
    );
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(x.validFrom).getTime()).toBe(NOW - 3_600_000);
    expect(new Date(x.validTo).getTime()).toBe(NOW + 7 * 86_400_000);
    expect(x.checkHost('relay.example')).toBe('relay.example');
    expect(x.checkIP('::1')).toBe('::1');
    expect(x.checkIP('10.0.0.1')).toBeUndefined();
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extKeyUsage serverAuth
  });

  it('writes GeneralizedTime for dates from 2050 (RFC 5280 §4.1.2.5)', () => {
    const { cert } = selfSignedCertificate({ hosts: ['localhost'], days: 365 * 40, now: () => NOW });
    expect(new X509Certificate(cert).validTo).toMatch(/ 2066 GMT$/);
  });

  it('encodes IPv6 addresses, with :: anywhere and an IPv4 tail', () => {
    expect(ipBytes('::1').toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipBytes('2001:db8::8:1').toString('hex')).toBe('20010db8000000000000000000080001');
    expect(ipBytes('fe80::').toString('hex')).toBe('fe800000000000000000000000000000');
    expect(ipBytes('::ffff:10.0.0.1').toString('hex')).toBe('00000000000000000000ffff0a000001');
    expect(ipBytes('1:2:3:4:5:6:7:8').toString('hex')).toBe('00010002000300040005000600070008');
  });

  it('is accepted by openssl x509', () => {
    const openssl = requireTool('openssl');
    if (!openssl) return;
    const dir = mkdtempSync(join(tmpdir(), 'self-signed-'));
    const { cert } = selfSignedCertificate({ hosts: ['localhost', '::1'] });
    writeFileSync(join(dir, 'cert.pem'), cert);
    const text = execFileSync(openssl, ['x509', '-noout', '-text', '-in', join(dir, 'cert.pem')], {
      encoding: 'utf8',
    });
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(text).toContain('DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    expect(text).toContain('TLS Web Server Authentication');
    const verified = execFileSync(
      openssl,
      ['verify', '-CAfile', join(dir, 'cert.pem'), join(dir, 'cert.pem')],
      { encoding: 'utf8' },
    );
    expect(verified).toContain(': OK');
  });

  for (const [name, host, servername] of [
    ['a DNS name', '127.0.0.1', 'localhost'],
    ['an IPv4 address', '127.0.0.1', undefined],
  ] as const)
    it(`completes a TLS handshake with a client that trusts it, checking ${name}`, async () => {
      const pair = selfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });
      const server = createServer({ ...pair, minVersion: 'TLSv1.2' }, (s) => s.end('hello'));
      defer(server, (s) => new Promise((r) => s.close(r)));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const { port } = server.address() as { port: number };
      const client: TLSSocket = connect({ host, port, ca: pair.cert, ...(servername ? { servername } : {}) });
      defer(client, (c) => c.destroy());
      const got = await new Promise<string>((resolve, reject) => {
        client.once('error', reject);
        client.once('data', (d: Buffer) => resolve(d.toString()));
      });
      expect(got).toBe('hello');
      expect(client.authorized).toBe(true);
    });

  it('is refused by a client that checks a name it does not carry', async () => {
    const pair = selfSignedCertificate({ hosts: ['localhost'] });
    const server = createServer(pair, (s) => s.end());
    defer(server, (s) => new Promise((r) => s.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const client = connect({ host: '127.0.0.1', port, ca: pair.cert, servername: 'other.example' });
    defer(client, (c) => c.destroy());
    const code = await new Promise<string>((resolve) =>
      client.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    expect(code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});
