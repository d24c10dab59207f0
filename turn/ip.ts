/** IP address text to bytes, shared by the STUN codec and the peer policy. */
import { isIPv4, isIPv6 } from 'node:net';

/** 16-byte form of an address; IPv4 becomes ::ffff:a.b.c.d. Null when not an IP literal. */
export function ipBytes(address: string): Buffer | null {
  const out = Buffer.alloc(16);
  if (isIPv4(address)) {
    out[10] = 0xff;
    out[11] = 0xff;
    address.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  const zone = address.indexOf('%');
  const ip = zone >= 0 ? address.slice(0, zone) : address;
  if (!isIPv6(ip)) return null;
  let text = ip;
  // An embedded dotted quad (::ffff:1.2.3.4) becomes two hex groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const p = dotted[1].split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((p[0]! << 8) | p[1]!).toString(16)}:${((p[2]! << 8) | p[3]!).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) return null;
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
