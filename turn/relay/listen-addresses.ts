/**
 * Which local addresses the relay listens on, and which address it advertises for each.
 *
 * One socket per local address, as coturn does by default: a UDP socket bound to 0.0.0.0 answers from
 * whatever source address the kernel picks for the route back, which on a host with several addresses (a
 * LAN address beside loopback, a cloud VM's private and public addresses, a Docker bridge) is often not
 * the address the client sent to. TURN clients match a response by its 5-tuple (RFC 8656 §3.1), so they
 * drop such answers and the allocation never happens. A socket bound to one address always answers from
 * it, and the relayed address of an allocation is taken from that same address.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export type Family = 'IPv4' | 'IPv6';

export function familyOf(address: string): Family {
  return isIPv4(address) ? 'IPv4' : 'IPv6';
}

/** IPv6 link-local (fe80::/10) needs a zone (fe80::1%eth0) that no TURN URL or relayed address carries. */
function isLinkLocalV6(address: string): boolean {
  return isIPv6(address) && /^fe[89ab]/i.test(address);
}

export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * The addresses to bind, from TURN_HOST entries: `0.0.0.0` stands for every IPv4 address of this host,
 * `::` for every IPv6 address (link-local ones left out), anything else for itself. Sorted, unique.
 */
export function listenAddresses(
  hosts: readonly string[],
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const local = Object.values(interfaces).flatMap((list) => list ?? []);
  const out = new Set<string>();
  for (const host of hosts) {
    if (host === '0.0.0.0' || host === '::') {
      const family = host === '::' ? 'IPv6' : 'IPv4';
      for (const i of local)
        if (i.family === family && !isLinkLocalV6(i.address)) out.add(i.address.toLowerCase());
    } else out.add(host.toLowerCase());
  }
  return [...out].sort((a, b) => Number(isIPv6(a)) - Number(isIPv6(b)) || a.localeCompare(b));
}

/**
 * TURN_EXTERNAL_IP, as coturn's `external-ip` takes it: `public` alone, or `public/private` pairs. A pair
 * maps relayed addresses on the local address `private` to `public` (a cloud VM behind 1:1 NAT, one pair
 * per private address); a bare `public` stands for every non-loopback local address of its family that no
 * pair names. Loopback is never mapped: a client that reached the relay on loopback is on this host.
 */
export interface ExternalMapping {
  external: string;
  /** The local address it stands for; undefined for the bare form. */
  local: string | undefined;
}

/** Parse `a.b.c.d`, `a.b.c.d/10.0.0.5`, `2001:db8::1/fd00::5`, comma-separated; throws RangeError. */
export function parseExternalIps(text: string): ExternalMapping[] {
  const entries = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return entries.map((entry) => {
    const [external = '', local, extra] = entry.split('/');
    if (extra !== undefined || !(isIPv4(external) || isIPv6(external)))
      throw new RangeError(`not an address or public/private pair: ${entry}`);
    if (local !== undefined && familyOf(local) !== familyOf(external))
      throw new RangeError(`${entry}: both sides of a pair must be of one family`);
    if (local !== undefined && !(isIPv4(local) || isIPv6(local)))
      throw new RangeError(`not an address or public/private pair: ${entry}`);
    return { external: external.toLowerCase(), local: local?.toLowerCase() };
  });
}

/** The address put in XOR-RELAYED-ADDRESS for a relay socket bound to `local`. */
export function advertisedAddress(local: string, mappings: readonly ExternalMapping[]): string {
  const pair = mappings.find((m) => m.local === local);
  if (pair) return pair.external;
  if (isLoopback(local)) return local;
  const bare = mappings.find((m) => m.local === undefined && familyOf(m.external) === familyOf(local));
  return bare?.external ?? local;
}

/**
 * The local address an allocation of `family` relays from, for a client that reached the relay on
 * `contacted`: that address itself when the family matches (so the relayed address follows the listener),
 * else an address of the other family on the same kind of interface (loopback for loopback), else any.
 * Undefined when the relay has no address of that family (440).
 */
export function relayAddressFor(
  contacted: string,
  family: Family,
  addresses: readonly string[],
): string | undefined {
  if (familyOf(contacted) === family) return contacted;
  const same = addresses.filter((a) => familyOf(a) === family);
  return same.find((a) => isLoopback(a) === isLoopback(contacted)) ?? same[0];
}
