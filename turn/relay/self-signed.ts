/**
 * A self-signed certificate for the relay's TLS listener when the operator gives none (the development
 * default of RFC 8656 §3.1 TURN over TLS). No dependency: an EC P-256 key from node:crypto, the X.509 v3
 * certificate (RFC 5280 §4.1) written with the small DER encoder below, signed ECDSA with SHA-256
 * (RFC 5758 §3.2). Clients trust it only when told to (`ca: cert`); it is never meant for production.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

export interface SelfSignedOptions {
  /**
   * Names the certificate is valid for: DNS names and IPv4 or IPv6 addresses, put in subjectAltName
   * (RFC 5280 §4.2.1.6; clients check it, not the CN). The first is also the subject CN. At least one.
   */
  hosts: readonly string[];
  /** Validity from now, days. Default 30. */
  days?: number;
  /** Clock in milliseconds; the validity starts one hour before it, for clients whose clock is behind. */
  now?: () => number;
}

export interface SelfSigned {
  /** The certificate, PEM. */
  cert: string;
  /** The private key, PKCS#8 PEM. */
  key: string;
}

const DAY_MS = 86_400_000;
/** Backdating the start covers clients whose clock is a little behind the relay's. */
const BACKDATE_MS = 3_600_000;

export function selfSignedCertificate(o: SelfSignedOptions): SelfSigned {
  const first = o.hosts[0];
  if (first === undefined) throw new Error('selfSignedCertificate needs at least one host');
  const now = (o.now ?? Date.now)();
  const days = o.days ?? 30;
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  // RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; 16 random ones, the top bit cleared.
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const name = seq(set(seq(oid(OID.commonName), utf8(first))));
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // version v3
    integer(serial),
    seq(oid(OID.ecdsaWithSha256)),
    name, // issuer: self
    seq(time(now - BACKDATE_MS), time(now + days * DAY_MS)),
    name, // subject
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions(o.hosts))),
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value, as X.509 wants it
  const der = seq(tbs, seq(oid(OID.ecdsaWithSha256)), bitString(signature));
  return {
    cert: pem('CERTIFICATE', der),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** RFC 5280 §4.2: subjectAltName, basicConstraints (not a CA), keyUsage and extKeyUsage for a TLS server. */
function extensions(hosts: readonly string[]): Buffer[] {
  const names = hosts.map((h) =>
    isIP(h) ? tagged(0x87, ipBytes(h)) : tagged(0x82, Buffer.from(h, 'ascii')),
  );
  return [
    extension(OID.subjectAltName, false, seq(...names)),
    extension(OID.basicConstraints, true, seq()),
    // digitalSignature (bit 0): what an ECDHE-ECDSA server key does in the handshake.
    extension(OID.keyUsage, true, tagged(0x03, Buffer.from([0x07, 0x80]))),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
  ];
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tagged(0x01, Buffer.from([0xff]))] : []), tagged(0x04, value));
}

/** The 4 or 16 bytes of an IP address (iPAddress SAN, RFC 5280 §4.2.1.6). */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip;
  const tail: number[] = [];
  // An IPv4 tail (::ffff:1.2.3.4) is the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (dotted) {
    text = `${dotted[1]!}0:0`;
    tail.push(...dotted[2]!.split('.').map(Number));
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length) Buffer.from(tail).copy(out, 12);
  return out;
}

// --- DER (X.690 §8, §10): definite lengths, the few universal types a certificate needs.

function tagged(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, content]);
}

function seq(...items: Buffer[]): Buffer {
  return tagged(0x30, Buffer.concat(items));
}

function set(...items: Buffer[]): Buffer {
  return tagged(0x31, Buffer.concat(items));
}

function explicit(n: number, inner: Buffer): Buffer {
  return tagged(0xa0 | n, inner);
}

/** A non-negative INTEGER from big-endian bytes: a leading zero keeps it positive. */
function integer(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && (bytes[start + 1]! & 0x80) === 0) start++;
  const trimmed = bytes.subarray(start);
  return tagged(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function bitString(bytes: Buffer): Buffer {
  return tagged(0x03, Buffer.concat([Buffer.from([0]), bytes]));
}

function utf8(s: string): Buffer {
  return tagged(0x0c, Buffer.from(s, 'utf8'));
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const arc of rest) {
    const base128: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    out.push(...base128);
  }
  return tagged(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, always UTC to the second. */
function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2026-12-01T09:11:28.123Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20261201091128Z
  const year = new Date(ms).getUTCFullYear();
  return year < 2050
    ? tagged(0x17, Buffer.from(digits.slice(2), 'ascii'))
    : tagged(0x18, Buffer.from(digits, 'ascii'));
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
