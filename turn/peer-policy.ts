/**
 * Which peer addresses the relay may send to (RFC 8656 §21.2.3: a relay must not become a way into the
 * operator's own network). Denied by default: unspecified, loopback, private, shared (CGN), link-local
 * (which holds cloud metadata at 169.254.169.254), multicast, reserved and documentation ranges, and the
 * IPv4-mapped and NAT64 forms of all of those. The operator's allow-list overrides the default deny list;
 * the operator's deny list overrides both.
 */
import { isIPv4 } from 'node:net';
import { ipBytes } from './ip.js';

const DEFAULT_DENIED = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.0.2.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '198.51.100.0/24',
  '203.0.113.0/24',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
  '2001:db8::/32',
  '2001::/32', // Teredo: tunnels to an IPv4 address the relay cannot judge
  '64:ff9b::/96', // well-known NAT64 (RFC 6052): the gateway it leads through is not the relay's to use
  '64:ff9b:1::/48', // local-use NAT64 (RFC 8215)
] as const;

interface Cidr {
  /** 16 bytes: IPv4 as IPv4-mapped IPv6, so one comparison covers both families. */
  bytes: Buffer;
  bits: number;
}

export function parseCidr(text: string): Cidr {
  const [ip = '', bitsText] = text.split('/');
  const bytes = ipBytes(ip);
  if (!bytes) throw new RangeError(`not a CIDR: ${text}`);
  const v4 = isIPv4(ip);
  const max = v4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new RangeError(`not a CIDR: ${text}`);
  return { bytes, bits: v4 ? bits + 96 : bits };
}

function contains(cidr: Cidr, addr: Buffer): boolean {
  let bits = cidr.bits;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((cidr.bytes[i]! & mask) !== (addr[i]! & mask)) return false;
  }
  return true;
}

/**
 * The IPv4 address an IPv6 address stands for, when it is IPv4-mapped (::ffff:0:0/96), IPv4-compatible
 * (::/96, deprecated), NAT64 (64:ff9b::/96) or 6to4 (2002::/16): the policy judges the IPv4 address
 * behind it.
 */
function embeddedIpv4(addr: Buffer): Buffer | null {
  const zero10 = addr.subarray(0, 10).every((b) => b === 0);
  const mapped = zero10 && addr[10] === 0xff && addr[11] === 0xff;
  const compatible = zero10 && addr[10] === 0 && addr[11] === 0 && addr.readUInt32BE(12) > 1;
  const nat64 = addr.readUInt32BE(0) === 0x0064ff9b && addr.subarray(4, 12).every((b) => b === 0);
  const sixToFour = addr.readUInt16BE(0) === 0x2002; // 2002:AABB:CCDD::/48 carries A.B.C.D (RFC 3056)
  if (!mapped && !compatible && !nat64 && !sixToFour) return null;
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  addr.copy(out, 12, sixToFour ? 2 : 12, sixToFour ? 6 : 16);
  return out;
}

export interface PeerPolicyOptions {
  /** CIDRs allowed even where the default policy denies (e.g. 127.0.0.0/8 for tests on loopback). */
  allowed?: readonly string[];
  /** Extra CIDRs to deny; they win over `allowed`. */
  denied?: readonly string[];
}

export class PeerPolicy {
  private readonly defaults = DEFAULT_DENIED.map(parseCidr);
  private readonly allowed: Cidr[];
  private readonly denied: Cidr[];
  /** Decisions by address text: peers are few per allocation and asked about on every permission. */
  private readonly cache = new Map<string, boolean>();

  constructor(options: PeerPolicyOptions = {}) {
    this.allowed = (options.allowed ?? []).map(parseCidr);
    this.denied = (options.denied ?? []).map(parseCidr);
  }

  /** Whether the relay may send to and accept data from this peer address. */
  permits(address: string): boolean {
    const cached = this.cache.get(address);
    if (cached !== undefined) return cached;
    const verdict = this.decide(address);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(address, verdict);
    return verdict;
  }

  private decide(address: string): boolean {
    const bytes = ipBytes(address);
    if (!bytes) return false;
    const forms = [bytes];
    const inner = embeddedIpv4(bytes);
    if (inner) forms.push(inner);
    const any = (list: Cidr[]) => forms.some((f) => list.some((c) => contains(c, f)));
    if (any(this.denied)) return false;
    if (any(this.allowed)) return true;
    return !any(this.defaults);
  }
}
