/**
 * Which link an incoming signal belongs to. A link restarts ICE when it can, but one that cannot recover
 * (or whose remote went away) is replaced by a fresh one, and signals of the old and new link interleave
 * in flight.
 *
 * A link is named by the session id of its remote description's `o=` line: JSEP keeps the session id
 * for every later offer and answer of the same RTCPeerConnection and only bumps the version (RFC 8829
 * §5.2.2, RFC 8866 §5.2), while a new RTCPeerConnection picks a new random one. So an offer or answer
 * with the current session id is a renegotiation of the live link even when its ICE ufrag changed (an
 * ICE restart, RFC 8445 §9: libwebrtc makes one after `setConfiguration` changes the ICE servers), and
 * only a new session id starts a new link. Candidates carry no session id, only the ufrag of the ICE
 * generation they belong to (RFC 8839 §5.4): those of the current remote description go to the link,
 * those of a retired link or an older generation are stale and dropped.
 *
 * Offers that cross on one link (glare) are the link's business: perfect negotiation (`negotiation.ts`)
 * lets the polite side roll back. The router only decides between links: an offer from a connection we
 * have not seen (a new session id) after the current link was described gets a new answering link, so
 * every offer is answered.
 */
import type { SignalPayload } from '../../signaling/protocol/light/index.js';

export type Route = 'current' | 'new-link' | 'drop';

export interface LinkView {
  initiator: boolean;
  remoteUfrag: string | null;
  /** Session id (`o=` line) of the remote description this link has been given; null before one. */
  remoteSession: string | null;
  localUfrag: string | null;
}

/** Remote ufrags and session ids of links this side has replaced: their late signals are dropped. */
export interface Retired {
  ufrags: ReadonlySet<string>;
  sessions: ReadonlySet<string>;
}

export function ufragOfSdp(sdp: string): string | null {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
}

/** `o=<username> <sess-id> <sess-version> ...` (RFC 8866 §5.2): the session id, stable per connection. */
export function sessionOfSdp(sdp: string): string | null {
  return /^o=\S+ (\S+) /m.exec(sdp)?.[1] ?? null;
}

/** libwebrtc (Chromium, Node's wrtc) writes `ufrag X` into candidate lines; Firefox does not. */
export function ufragOfCandidate(candidate: string): string | null {
  return /\sufrag\s(\S+)/.exec(candidate)?.[1] ?? null;
}

/** The smaller peer id creates the link (the "initiator"); the larger one answers. */
export function shouldInitiate(localPeerId: string, remotePeerId: string): boolean {
  return localPeerId < remotePeerId;
}

/** Same remote connection: same session id when both are known, else (no `o=` line) the same ufrag. */
function sameRemote(link: LinkView, sdp: string): boolean {
  const session = sessionOfSdp(sdp);
  if (link.remoteSession !== null && session !== null) return link.remoteSession === session;
  return link.remoteUfrag === null || link.remoteUfrag === ufragOfSdp(sdp);
}

function isRetired(sdp: string, retired: Retired): boolean {
  const session = sessionOfSdp(sdp);
  if (session !== null) return retired.sessions.has(session);
  const ufrag = ufragOfSdp(sdp);
  return ufrag !== null && retired.ufrags.has(ufrag);
}

export function routeSignal(signal: SignalPayload, link: LinkView | null, retired: Retired): Route {
  switch (signal.type) {
    case 'offer': {
      if (isRetired(signal.sdp, retired)) return 'drop';
      if (!link) return 'new-link';
      const described = link.remoteSession !== null || link.remoteUfrag !== null;
      // A renegotiation (or ICE restart) of the live link, or the first offer to a link of ours (which
      // may cross our own: perfect negotiation settles it on the link).
      if (!described || sameRemote(link, signal.sdp)) return 'current';
      return 'new-link';
    }
    case 'answer':
    case 'pranswer': {
      if (!link) return 'drop';
      if (isRetired(signal.sdp, retired)) return 'drop';
      return sameRemote(link, signal.sdp) ? 'current' : 'drop';
    }
    case 'candidate': {
      if (!link) return 'drop';
      const ufrag = signal.candidate.usernameFragment ?? ufragOfCandidate(signal.candidate.candidate);
      const anyRetired = retired.ufrags.size > 0 || retired.sessions.size > 0;
      if (ufrag === null) {
        // No ufrag in the line (Firefox). A replacement link still waiting for its answer gets none: the
        // remote sends its answer before its candidates, so these can only be the old link's.
        return link.initiator && link.remoteUfrag === null && anyRetired ? 'drop' : 'current';
      }
      if (retired.ufrags.has(ufrag)) return 'drop';
      return link.remoteUfrag === null || link.remoteUfrag === ufrag ? 'current' : 'drop';
    }
    case 'rollback':
    case 'renegotiate':
    case 'transceiverRequest':
      return link ? 'current' : 'drop';
  }
}
