/**
 * Certificate files reloaded without a restart, over a real TLS server wired as the relay wires it
 * (`onChange` → `setSecureContext`): new connections get the new certificate, open ones keep theirs, and a
 * broken pair is refused while the old one goes on serving.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { until } from '../../test-support/turn-client.js';
import { selfSignedCertificate } from './self-signed.js';
import { TlsCertificates } from './tls-certificates.js';

const defer = closeAfterEach();
const POLL_MS = 20;

function files(pair: { cert: string; key: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'tls-certs-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, pair.cert);
  writeFileSync(keyFile, pair.key);
  return { certFile, keyFile };
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

async function serve(certificates: TlsCertificates) {
  const server = createServer({ ...certificates.current, minVersion: 'TLSv1.2' }, (s) => {
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
  });
  certificates.onChange((context) => server.setSecureContext(context));
  defer(server, (s) => new Promise((r) => s.close(r)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

async function peerFingerprint(port: number): Promise<{ socket: TLSSocket; fp: string }> {
  // The certificate changes under the test, so this client trusts whatever it is shown.
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  defer(socket, (s) => s.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  return { socket, fp: socket.getPeerCertificate().fingerprint256 };
}

describe('TlsCertificates', () => {
  it('loads the pair from files and serves it', async () => {
    const first = selfSignedCertificate({ hosts: ['localhost'] });
    const certificates = TlsCertificates.fromFiles({ ...files(first), pollMs: POLL_MS });
    defer(certificates, (c) => c.close());
    const port = await serve(certificates);
    expect((await peerFingerprint(port)).fp).toBe(fingerprint(first.cert));
  });

  it('refuses to start from a pair that does not load', () => {
    const a = selfSignedCertificate({ hosts: ['localhost'] });
    const b = selfSignedCertificate({ hosts: ['localhost'] });
    expect(() => TlsCertificates.fromFiles({ ...files({ cert: a.cert, key: b.key }) })).toThrow();
    expect(() => TlsCertificates.fromPem({ cert: 'not pem', key: a.key })).toThrow();
  });

  it('applies new files to new connections, leaves open ones alone, and keeps the old pair over a broken one', async () => {
    const first = selfSignedCertificate({ hosts: ['localhost'] });
    const paths = files(first);
    const certificates = TlsCertificates.fromFiles({ ...paths, pollMs: POLL_MS });
    defer(certificates, (c) => c.close());
    const changes: string[] = [];
    certificates.onChange((c) => changes.push(fingerprint(c.cert as string)));
    const port = await serve(certificates);
    const open = await peerFingerprint(port);
    expect(open.fp).toBe(fingerprint(first.cert));

    // A renewal caught half-way: the new certificate with the old key does not load; the old pair stays.
    const second = selfSignedCertificate({ hosts: ['localhost'] });
    writeFileSync(paths.certFile, second.cert);
    await new Promise((r) => setTimeout(r, POLL_MS * 10));
    expect(changes).toEqual([]);
    expect((await peerFingerprint(port)).fp).toBe(fingerprint(first.cert));

    // The key lands: the new pair is applied to the next connection.
    writeFileSync(paths.keyFile, second.key);
    expect(await until(() => changes.length === 1)).toBe(true);
    expect(changes).toEqual([fingerprint(second.cert)]);
    expect((await peerFingerprint(port)).fp).toBe(fingerprint(second.cert));

    // The connection opened before the change still works, on the certificate it was shown.
    const echoed = new Promise<string>((resolve) =>
      open.socket.once('data', (d: Buffer) => resolve(d.toString())),
    );
    open.socket.write('still here');
    expect(await echoed).toBe('still here');
    expect(open.socket.getPeerCertificate().fingerprint256).toBe(fingerprint(first.cert));

    // Garbage in both files is logged and ignored.
    writeFileSync(paths.certFile, 'garbage');
    writeFileSync(paths.keyFile, 'garbage');
    await new Promise((r) => setTimeout(r, POLL_MS * 10));
    expect(changes).toHaveLength(1);
    expect(certificates.current.cert).toBe(second.cert);
  });

  it('for the relay: the operator files when given, a self-signed pair for the hosts when not, and never one file alone', () => {
    const pair = selfSignedCertificate({ hosts: ['relay.example'] });
    const paths = files(pair);
    const fromFiles = defer(TlsCertificates.forRelay({ ...paths, hosts: ['localhost'] }), (c) => c.close());
    expect(fromFiles.current.cert).toBe(pair.cert);
    const dev = defer(TlsCertificates.forRelay({ hosts: ['localhost', '::1'] }), (c) => c.close());
    const x = new X509Certificate(dev.current.cert as string);
    expect(x.subjectAltName).toBe('DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(() => TlsCertificates.forRelay({ certFile: paths.certFile, hosts: ['localhost'] })).toThrow();
    expect(() => TlsCertificates.forRelay({ keyFile: paths.keyFile, hosts: ['localhost'] })).toThrow();
  });

  it('stops polling on close, and close is idempotent', async () => {
    const first = selfSignedCertificate({ hosts: ['localhost'] });
    const paths = files(first);
    const certificates = TlsCertificates.fromFiles({ ...paths, pollMs: POLL_MS });
    const changes: unknown[] = [];
    certificates.onChange((c) => changes.push(c));
    certificates.close();
    certificates.close();
    const second = selfSignedCertificate({ hosts: ['localhost'] });
    writeFileSync(paths.certFile, second.cert);
    writeFileSync(paths.keyFile, second.key);
    await new Promise((r) => setTimeout(r, POLL_MS * 10));
    expect(changes).toEqual([]);
    expect(certificates.reload()).toBe(false);
    expect(certificates.current.cert).toBe(first.cert);
  });
});
