/**
 * Perfect negotiation (W3C WebRTC 1.0 §10.7, "Perfect negotiation example"; RFC 8829 §4.1.8.1) on one
 * RTCPeerConnection: either side may offer whenever `negotiationneeded` fires; when two offers cross, the
 * impolite side ignores the other's offer and the polite side rolls its own back and answers. Every offer
 * is answered, and an ICE restart (`restartIce()`) is just another offer.
 *
 * Written for the lowest common denominator of the stacks we run on: @roamhq/wrtc has neither
 * `setLocalDescription()` without arguments nor implicit rollback, so offers and answers are created
 * explicitly and rollback is explicit. Remote signals are applied strictly in arrival order (one chain).
 */
import type { SignalPayload } from '../../signaling/protocol/light/index.js';

type Candidate = Extract<SignalPayload, { type: 'candidate' }>['candidate'];
type Description = Extract<SignalPayload, { type: 'offer' | 'answer' | 'pranswer' }>;

export interface NegotiationHooks {
  /** A description or candidate for the remote side. */
  send(signal: SignalPayload): void;
  /** True once the link was destroyed: nothing more is applied or sent. */
  closed(): boolean;
  /** Once, on the answering side, when the first remote offer is set and before the answer is made. */
  firstRemoteOffer(): void;
  /** After every completed offer/answer exchange (back in `stable`, transceiver directions current). */
  negotiated(): void;
}

export class Negotiation {
  private makingOffer = false;
  /** The answering side offers only once it has a remote description (its first offer would collide). */
  private mayOffer: boolean;
  /** An offer this side held back while it could not offer yet; made after its first answer. */
  private heldOffer = false;
  private ignoreOffer = false;
  private iceRestartWanted = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly pc: RTCPeerConnection,
    /** The polite side yields when offers cross. */
    private readonly polite: boolean,
    private readonly hooks: NegotiationHooks,
    offersFirst: boolean,
  ) {
    this.mayOffer = offersFirst;
    pc.addEventListener('negotiationneeded', () => void this.offer());
    pc.addEventListener('icecandidate', (ev: RTCPeerConnectionIceEvent) => {
      if (!ev.candidate || hooks.closed()) return;
      // All four fields, usernameFragment included: the remote needs it to tell ICE generations apart
      // (RFC 8839 §5.4), and Firefox's candidate lines do not carry the ufrag themselves.
      const c = ev.candidate;
      hooks.send({
        type: 'candidate',
        candidate: {
          candidate: c.candidate,
          sdpMid: c.sdpMid,
          sdpMLineIndex: c.sdpMLineIndex,
          usernameFragment: c.usernameFragment ?? ufragOf(pc.localDescription?.sdp),
        },
      });
    });
  }

  /** Restart ICE on this connection (new credentials, new candidates), through the next offer. */
  restartIce(): void {
    this.iceRestartWanted = true;
    if (typeof this.pc.restartIce === 'function') this.pc.restartIce();
    else void this.offer();
  }

  /** Apply a remote signal, in order with every other one. */
  receive(signal: SignalPayload): void {
    this.chain = this.chain.then(() => this.apply(signal)).catch(() => undefined);
  }

  private async offer(): Promise<void> {
    if (this.hooks.closed()) return;
    if (!this.mayOffer) {
      this.heldOffer = true;
      return;
    }
    try {
      this.makingOffer = true;
      const offer = await this.pc.createOffer(this.iceRestartWanted ? { iceRestart: true } : {});
      // A remote offer arrived while ours was being made: it won, ours is dropped (made again later).
      if (this.pc.signalingState !== 'stable' || this.hooks.closed()) return;
      await this.pc.setLocalDescription(offer);
      this.iceRestartWanted = false;
      this.hooks.send({ type: 'offer', sdp: this.pc.localDescription?.sdp ?? offer.sdp ?? '' });
    } catch {
      // Closed meanwhile, or a state race; the next negotiationneeded tries again.
    } finally {
      this.makingOffer = false;
    }
  }

  private async apply(signal: SignalPayload): Promise<void> {
    if (this.hooks.closed()) return;
    const pc = this.pc;
    switch (signal.type) {
      case 'offer':
      case 'answer':
      case 'pranswer':
        return this.applyDescription(signal);
      case 'candidate':
        try {
          await pc.addIceCandidate(toInit(signal.candidate));
        } catch {
          // Candidates of an offer we ignored, or of an ICE generation already replaced, cannot apply;
          // any other bad candidate costs only itself (ICE tries the rest).
        }
        return;
      case 'rollback':
        if (pc.signalingState !== 'stable') await pc.setLocalDescription({ type: 'rollback' });
        return;
      case 'renegotiate':
      case 'transceiverRequest':
        // simple-peer's requests to its initiator: here either side offers for itself.
        return;
    }
  }

  private async applyDescription(desc: Description): Promise<void> {
    const pc = this.pc;
    const collision = desc.type === 'offer' && (this.makingOffer || pc.signalingState !== 'stable');
    this.ignoreOffer = !this.polite && collision;
    if (this.ignoreOffer) return;
    if (desc.type !== 'offer' && pc.signalingState !== 'have-local-offer') return; // stale answer
    if (collision && pc.signalingState !== 'stable') await pc.setLocalDescription({ type: 'rollback' });
    await pc.setRemoteDescription({ type: desc.type, sdp: desc.sdp });
    if (this.hooks.closed()) return;
    if (desc.type !== 'offer') return this.hooks.negotiated();
    if (!this.mayOffer) this.hooks.firstRemoteOffer();
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.hooks.negotiated();
    this.hooks.send({ type: 'answer', sdp: pc.localDescription?.sdp ?? answer.sdp ?? '' });
    if (!this.mayOffer) {
      this.mayOffer = true;
      // What this side wanted to negotiate before (its tracks) goes in an offer of its own.
      if (this.heldOffer) void this.offer();
      this.heldOffer = false;
    }
  }
}

function toInit(c: Candidate): RTCIceCandidateInit {
  return {
    candidate: c.candidate,
    ...(c.sdpMid != null && { sdpMid: c.sdpMid }),
    ...(c.sdpMLineIndex != null && { sdpMLineIndex: c.sdpMLineIndex }),
    ...(c.usernameFragment != null && { usernameFragment: c.usernameFragment }),
  };
}

function ufragOf(sdp: string | undefined): string | null {
  return (sdp && /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1]) ?? null;
}
