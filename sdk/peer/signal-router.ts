/**
 * Which link an incoming signal belongs to. simple-peer 9 cannot restart ICE, so a failed link is
 * replaced by a fresh one, and signals of the old and new link interleave in flight. Every link has its
 * own ICE username fragment (RFC 8445 §5.3, RFC 8839 §5.4): an offer whose ufrag differs from the current
 * link's starts a new link, and candidates or answers carrying a retired ufrag are stale and dropped.
 *
 * Glare (both sides starting a link at once) is settled by peer id: the side with the smaller id is
 * "impolite" and keeps its own offer; the other side drops its link and answers (RFC 8829 §4.1.8.1's
 * polite-peer idea, with a deterministic tie-break instead of rollback).
 */
import type { SignalPayload } from '../../signaling/protocol/index.js';

export type Route = 'current' | 'new-link' | 'drop';

export interface LinkView {
  initiator: boolean;
  remoteUfrag: string | null;
  localUfrag: string | null;
}

export function ufragOfSdp(sdp: string): string | null {
  return /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
}

/** libwebrtc (Chromium, Node's wrtc) writes `ufrag X` into candidate lines; Firefox does not. */
export function ufragOfCandidate(candidate: string): string | null {
  return /\sufrag\s(\S+)/.exec(candidate)?.[1] ?? null;
}

/** The smaller peer id creates the link (the "initiator"); the larger one answers. */
export function shouldInitiate(localPeerId: string, remotePeerId: string): boolean {
  return localPeerId < remotePeerId;
}

export function routeSignal(
  signal: SignalPayload,
  link: LinkView | null,
  retired: ReadonlySet<string>,
  polite: boolean,
): Route {
  switch (signal.type) {
    case 'offer': {
      const ufrag = ufragOfSdp(signal.sdp);
      if (ufrag !== null && retired.has(ufrag)) return 'drop';
      if (!link) return 'new-link';
      if (!link.initiator)
        return link.remoteUfrag === null || link.remoteUfrag === ufrag ? 'current' : 'new-link';
      // We started a link too: glare.
      return polite ? 'new-link' : 'drop';
    }
    case 'answer':
    case 'pranswer': {
      if (!link?.initiator) return 'drop';
      const ufrag = ufragOfSdp(signal.sdp);
      if (ufrag !== null && retired.has(ufrag)) return 'drop';
      return link.remoteUfrag === null || link.remoteUfrag === ufrag ? 'current' : 'drop';
    }
    case 'candidate': {
      if (!link) return 'drop';
      const ufrag = ufragOfCandidate(signal.candidate.candidate);
      if (ufrag === null) {
        // No ufrag in the line (Firefox). A replacement link still waiting for its answer gets none: the
        // remote sends its answer before its candidates, so these can only be the old link's.
        return link.initiator && link.remoteUfrag === null && retired.size > 0 ? 'drop' : 'current';
      }
      if (retired.has(ufrag)) return 'drop';
      return link.remoteUfrag === null || link.remoteUfrag === ufrag ? 'current' : 'drop';
    }
    case 'rollback':
    case 'renegotiate':
    case 'transceiverRequest':
      return link ? 'current' : 'drop';
  }
}
