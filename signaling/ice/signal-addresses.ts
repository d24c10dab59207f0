/**
 * The IP addresses a signal announces: those of its ICE candidates (a trickled candidate, or the
 * `a=candidate` lines and `c=` lines of an offer or answer from a peer that does not trickle), including a
 * reflexive or relayed candidate's base (`raddr`). The bundled relay lets a room's allocations reach only
 * addresses its peers announced (room scope), so signaling tells it these as it relays them. mDNS names
 * (`*.local`) and unspecified addresses say nothing about where a peer is and are left out.
 */
import { isIP } from 'node:net';
import type { SignalPayload } from '../protocol/index.js';

/** At most this many addresses from one signal (an SDP with hundreds of candidates is not a real peer). */
export const MAX_ADDRESSES_PER_SIGNAL = 32;

export function addressesInSignal(signal: SignalPayload): string[] {
  const found = new Set<string>();
  if (signal.type === 'candidate') candidateAddresses(signal.candidate.candidate, found);
  else if (
    (signal.type === 'offer' || signal.type === 'answer' || signal.type === 'pranswer') &&
    signal.sdp
  ) {
    for (const line of signal.sdp.split(/\r?\n/)) {
      if (found.size >= MAX_ADDRESSES_PER_SIGNAL) break;
      if (line.startsWith('a=candidate:')) candidateAddresses(line.slice(2), found);
      else if (line.startsWith('c=IN IP')) add(line.split(' ')[2], found);
    }
  }
  return [...found].slice(0, MAX_ADDRESSES_PER_SIGNAL);
}

/** `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> [raddr <a> …]` */
function candidateAddresses(candidate: string, into: Set<string>): void {
  const fields = candidate
    .replace(/^candidate:/, '')
    .trim()
    .split(/\s+/);
  add(fields[4], into);
  const raddr = fields.indexOf('raddr');
  if (raddr > 0) add(fields[raddr + 1], into);
}

function add(address: string | undefined, into: Set<string>): void {
  if (!address) return;
  const bare = address.replace(/^\[|\]$/g, '');
  if (isIP(bare) === 0 || bare === '0.0.0.0' || bare === '::') return;
  into.add(bare.toLowerCase());
}
