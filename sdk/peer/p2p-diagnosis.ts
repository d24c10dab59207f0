/**
 * "Why did it fail": one reason per peer when a pair cannot go direct or relayed, read from what each
 * side can see of its own link: the candidates it gathered, the candidates the remote sent, the
 * `icecandidateerror` events of its STUN/TURN servers (W3C webrtc-pc §4.8.6; codes from RFC 8489 §14.8
 * and RFC 8656 §19, 701 for "no answer"), and the ICE servers it was given. Pure: no timers, no I/O.
 */
import { P2P_FAILURE_REASONS, type P2pFailureReason } from '../errors.js';

export { P2P_FAILURE_REASONS, type P2pFailureReason };

export interface CandidateInfo {
  type: 'host' | 'srflx' | 'prflx' | 'relay' | 'unknown';
  protocol: 'udp' | 'tcp' | 'unknown';
  address: string;
}

export interface CandidateError {
  /** STUN/TURN error code (401, 403, 486, …) or 701 when the server never answered. */
  code: number;
  url: string;
}

export interface LinkObservations {
  /** URLs of the ICE servers the link was made with. */
  iceServerUrls: string[];
  iceTransportPolicy: RTCIceTransportPolicy;
  local: CandidateInfo[];
  remote: CandidateInfo[];
  errors: CandidateError[];
}

/** `candidate:<foundation> <component> <proto> <prio> <address> <port> typ <type> …` (RFC 8839 §5.1). */
export function parseCandidate(line: string): CandidateInfo {
  const m = /^(?:a=)?candidate:\S+ \d+ (\S+) \d+ (\S+) \d+ typ (\S+)/i.exec(line);
  if (!m) return { type: 'unknown', protocol: 'unknown', address: '' };
  const protocol = m[1]!.toLowerCase();
  const type = m[3]!.toLowerCase();
  return {
    protocol: protocol === 'udp' || protocol === 'tcp' ? protocol : 'unknown',
    address: m[2]!,
    type: type === 'host' || type === 'srflx' || type === 'prflx' || type === 'relay' ? type : 'unknown',
  };
}

/**
 * Addresses a relay's default peer policy refuses (loopback, private, link-local, shared CGNAT space,
 * ULA), and browsers' mDNS host names: a peer offering only these cannot be reached through a relay.
 */
export function isUnreachableThroughRelay(address: string): boolean {
  if (address.endsWith('.local')) return true;
  const v4 = /^(\d+)\.(\d+)\.\d+\.\d+$/.exec(address);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  const v6 = address.toLowerCase();
  return v6 === '::1' || v6.startsWith('fe80:') || v6.startsWith('fc') || v6.startsWith('fd');
}

const isTurn = (url: string) => /^turns?:/i.test(url);
const isUdpServer = (url: string) =>
  /^stun:/i.test(url) || (/^turn:/i.test(url) && !/transport=tcp/i.test(url));

/** The one reason for this side's failed attempt; null while nothing at all is known about it. */
export function diagnose(o: LinkObservations): P2pFailureReason | null {
  const hasTurn = o.iceServerUrls.some(isTurn);
  // Relay only, and no relay to use: nothing can ever be gathered.
  if (!hasTurn && o.iceTransportPolicy === 'relay') return 'no_relay_configured';
  if (o.local.length === 0 && o.remote.length === 0 && o.errors.length === 0) return null;
  const localRelay = o.local.some((c) => c.type === 'relay');
  const localReflexive = o.local.some((c) => c.type === 'srflx' || c.type === 'prflx');
  const turnError = (code: number) => o.errors.some((e) => e.code === code && isTurn(e.url));
  // With iceTransportPolicy relay the browser signals relay candidates only: no srflx says nothing.
  const seesAll = o.iceTransportPolicy !== 'relay';
  const udpSilent = seesAll && !localReflexive && o.iceServerUrls.some(isUdpServer);

  if (!localRelay && hasTurn) {
    if (turnError(401)) return 'turn_unauthorized';
    if (turnError(486) || turnError(508)) return 'turn_quota';
    return udpSilent ? 'udp_blocked' : 'turn_unreachable';
  }
  if (!hasTurn) {
    if (udpSilent) return 'udp_blocked';
    return 'no_relay_configured';
  }
  // We have a relay address. The relay may only reach the remote at a public or relayed address.
  const remoteReachable = o.remote.some(
    (c) =>
      c.type === 'relay' || c.type === 'srflx' || c.type === 'prflx' || !isUnreachableThroughRelay(c.address),
  );
  if (o.remote.length > 0 && !remoteReachable) return 'peer_denied_by_relay';
  if (turnError(403)) return 'peer_denied_by_relay';
  return 'ice_timeout';
}

export function describeFailure(reason: P2pFailureReason): string {
  return P2P_FAILURE_REASONS[reason];
}

/** What a new link has seen so far: nothing yet, with the ICE configuration it was made with. */
export function emptyObservations(config: RTCConfiguration): LinkObservations {
  const urls = (config.iceServers ?? []).flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
  return {
    iceServerUrls: urls,
    iceTransportPolicy: config.iceTransportPolicy ?? 'all',
    local: [],
    remote: [],
    errors: [],
  };
}
