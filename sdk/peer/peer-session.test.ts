/** PeerSession on fake links and a manual clock: deadlines, fallback, link replacement, glare. */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test-support/sdk-fakes.js';
import type { ClientMessage, Member, SignalPayload } from '../../signaling/protocol/light/index.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { encodePayload, toLinkText } from '../data/frames.js';
import type { Link, LinkEvents } from './link.js';
import { PeerSession, type SessionEnv, type SessionTuning } from './peer-session.js';

class FakeLink extends TypedEmitter<LinkEvents> implements Link {
  connected = false;
  destroyed = false;
  remoteUfrag: string | null = null;
  remoteSession: string | null = null;
  readonly signals: SignalPayload[] = [];
  readonly sent: string[] = [];
  constructor(
    readonly initiator: boolean,
    readonly localUfrag: string,
  ) {
    super();
  }
  signal(p: SignalPayload): void {
    if (p.type === 'offer' || p.type === 'answer') {
      this.remoteUfrag = /a=ice-ufrag:(\S+)/.exec(p.sdp)?.[1] ?? null;
      this.remoteSession = /^o=\S+ (\S+) /m.exec(p.sdp)?.[1] ?? null;
    }
    this.signals.push(p);
  }
  send(text: string): boolean {
    if (!this.connected) return false;
    this.sent.push(text);
    return true;
  }
  sendUnreliable(text: string): boolean {
    return this.send(text);
  }
  sendApp(): boolean {
    return false;
  }
  addTrack(): void {}
  removeTrack(): void {}
  replaceTrack(): Promise<boolean> {
    return Promise.resolve(false);
  }
  readonly restarts: number[] = [];
  restartIce(): void {
    this.restarts.push(this.restarts.length);
  }
  setConfiguration(): void {}
  /** What getStats() reports (entries by id), or null for a platform without stats. */
  stats: Array<Record<string, unknown>> | null = null;
  getStats(): Promise<RTCStatsReport> | null {
    if (!this.stats) return null;
    return Promise.resolve(new Map(this.stats.map((e) => [e['id'], e])) as unknown as RTCStatsReport);
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.connected = false;
    this.emit('close', {});
  }
  // test controls
  fire<K extends keyof LinkEvents>(event: K, payload: LinkEvents[K]): void {
    this.emit(event, payload);
  }
  up(): void {
    this.connected = true;
    this.emit('connect', undefined);
  }
  fail(): void {
    this.connected = false;
    this.destroyed = true;
    this.emit('close', { error: { code: 'ERR_ICE_CONNECTION_FAILURE', message: 'failed' } });
  }
}

const tuning: SessionTuning = {
  p2pConnectTimeoutMs: 1_000,
  iceRetryIntervalMs: 2_000,
  iceDisconnectedGraceMs: 500,
  ackDelayMs: 10,
  retransmitMs: 300,
  maxUnackedMessages: 100,
  maxHeldMessages: 100,
  maxQueuedSignals: 10,
  plainPeerOfferDelayMs: 100,
  iceRestartAttempts: 2,
};

function setup(local: string, remote: string) {
  const clock = new FakeClock();
  const links: FakeLink[] = [];
  const wire: ClientMessage[] = [];
  const delivered: string[] = [];
  const paths: string[] = [];
  const failures: Array<string | null> = [];
  let config: RTCConfiguration = {};
  let open = true;
  const env: SessionEnv = {
    clock,
    tuning,
    localPeerId: () => local,
    signaling: { open: () => open, send: (m) => (open ? (wire.push(m), true) : false) },
    fallbackGate: { tryTake: () => true, waitMs: () => 0 },
    iceConfiguration: () => config,
    createLink: ({ initiator }) => {
      const l = new FakeLink(initiator, `L${links.length}`);
      links.push(l);
      return l;
    },
  };
  const member: Member = { peerId: remote, userId: 'u' };
  const session = new PeerSession(env, remote, member, 'remote-sdk-instance');
  session.on('p2p-failure', (e) => failures.push(e.reason));
  session.on('data', (e) => delivered.push(String(e.data)));
  session.on('path', (e) => paths.push(e.path));
  session.start();
  return {
    clock,
    links,
    wire,
    delivered,
    paths,
    failures,
    session,
    setOpen: (v: boolean) => (open = v),
    setConfig: (c: RTCConfiguration) => (config = c),
  };
}

const offer = (u: string): SignalPayload => ({ type: 'offer', sdp: `v=0\r\na=ice-ufrag:${u}\r\n` });
/** An offer as libwebrtc writes it, naming its RTCPeerConnection by the `o=` session id. */
const offerIn = (u: string, session: string): SignalPayload => ({
  type: 'offer',
  sdp: `v=0\r\no=- ${session} 2 IN IP4 127.0.0.1\r\na=ice-ufrag:${u}\r\n`,
});
const dataFrames = (wire: ClientMessage[]) => wire.filter((m) => m.type === 'data');

describe('PeerSession', () => {
  it('the smaller id initiates at once; the larger waits for an offer', () => {
    expect(setup('aaaaaaaa', 'bbbbbbbb').links.map((l) => l.initiator)).toEqual([true]);
    expect(setup('bbbbbbbb', 'aaaaaaaa').links).toEqual([]);
  });

  it('data rides signaling from the first moment, before any link: seq-numbered data frames, acks free them', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    s.session.sendReliable(encodePayload('m1', 'c'));
    // No waiting for ICE or for the deadline: out at once while the first link is still connecting.
    expect(s.session.pathState.path).toBe('connecting');
    expect(dataFrames(s.wire)).toEqual([
      { type: 'data', to: 'bbbbbbbb', payload: 'm1', channel: 'c', seq: 1 },
    ]);
    expect(s.session.sendUnreliable(encodePayload('u1', 'c'))).toBe(true);
    await s.clock.advance(1_000);
    expect(s.session.pathState.path).toBe('websocket');
    s.wire.splice(0);
    // Unacked: resent after retransmitMs; acked: never again.
    await s.clock.advance(300);
    expect(dataFrames(s.wire)).toHaveLength(1);
    s.session.receiveFrame({ kind: 'ack', seq: 1 });
    await s.clock.advance(1_000);
    expect(dataFrames(s.wire)).toHaveLength(1);
    expect(s.session.pendingReliable).toBe(0);
  });

  it('keeps retrying fresh links while on websocket, and moves back (resending unacked) when one connects', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    await s.clock.advance(1_000);
    s.session.sendReliable(encodePayload('during', undefined));
    await s.clock.advance(2_000);
    expect(s.links).toHaveLength(2);
    expect(s.links[0]!.destroyed).toBe(true);
    await s.clock.advance(2_000);
    expect(s.links).toHaveLength(3);
    s.links[2]!.up();
    expect(s.session.pathState.path).toBe('direct');
    expect(s.links[2]!.sent).toEqual([
      toLinkText({ kind: 'reliable', seq: 1, ...encodePayload('during', undefined) }),
    ]);
    await s.clock.advance(10_000);
    expect(s.links).toHaveLength(3); // connected: no more attempts
  });

  it('a failed link falls back and is replaced, but never more than once per retry interval', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    s.links[0]!.up();
    await s.clock.advance(5_000);
    s.links[0]!.fail();
    expect(s.session.pathState.path).toBe('websocket');
    expect(s.links).toHaveLength(2);
    s.links[1]!.fail(); // fails at once: no new link before the interval
    expect(s.links).toHaveLength(2);
    await s.clock.advance(2_000);
    expect(s.links).toHaveLength(3);
  });

  it('ICE disconnected past the grace period or failed: restarts ICE on the same link; replaced only if that fails', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    const link = s.links[0]!;
    link.up();
    await s.clock.advance(3_000);
    link.fire('ice-state', 'disconnected');
    await s.clock.advance(400);
    link.fire('ice-state', 'connected');
    await s.clock.advance(1_000);
    expect(link.restarts).toHaveLength(0);
    // Past the grace: an ICE restart on the same link, which comes back: kept, and the path is announced.
    link.fire('ice-state', 'disconnected');
    await s.clock.advance(500);
    expect(link.restarts).toHaveLength(1);
    const paths = s.paths.length;
    link.fire('ice-state', 'connected');
    await s.clock.advance(10);
    expect(s.links).toHaveLength(1);
    expect(s.paths.length).toBe(paths + 1);
    // ICE failed: restarted at once, and again after p2pConnectTimeoutMs; not back after the second
    // attempt: the link is replaced after all.
    link.fire('ice-state', 'failed');
    expect(link.restarts).toHaveLength(2);
    await s.clock.advance(1_000);
    expect(link.restarts).toHaveLength(3);
    expect(s.links).toHaveLength(1);
    await s.clock.advance(1_000);
    expect(s.links).toHaveLength(2);
    expect(link.destroyed).toBe(true);
    expect(s.session.pathState.path).toBe('websocket');
  });

  it('answering side: a new ufrag in an offer replaces the link; stale candidates are dropped', () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa');
    s.session.receiveSignal(offer('r1'));
    expect(s.links).toHaveLength(1);
    s.session.receiveSignal(offer('r1')); // renegotiation on the same link
    expect(s.links).toHaveLength(1);
    s.session.receiveSignal(offer('r2'));
    expect(s.links).toHaveLength(2);
    const stale: SignalPayload = {
      type: 'candidate',
      candidate: {
        candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host ufrag r1',
        sdpMid: '0',
        sdpMLineIndex: 0,
      },
    };
    s.session.receiveSignal(stale);
    expect(s.links[1]!.signals.map((x) => x.type)).toEqual(['offer']);
  });

  it('glare: an offer crossing ours goes to our link, whose perfect negotiation settles it', () => {
    const impolite = setup('aaaaaaaa', 'bbbbbbbb');
    impolite.session.receiveSignal(offer('x'));
    expect(impolite.links).toHaveLength(1);
    expect(impolite.links[0]!.signals.map((x) => x.type)).toEqual(['offer']);
  });

  it('relink requests: honoured when they name the current link, ignored when stale', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    s.links[0]!.up();
    await s.clock.advance(3_000);
    s.session.receiveFrame({ kind: 'control', request: { op: 'relink', ufrag: 'old-one' } });
    expect(s.links).toHaveLength(1);
    s.session.receiveFrame({ kind: 'control', request: { op: 'relink', ufrag: 'L0' } });
    expect(s.links).toHaveLength(2);
  });

  it('a relink request lost while signaling is down is sent again when it is back, and retried after', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa'); // answering side
    s.session.receiveSignal(offer('r1'));
    s.links[0]!.up();
    await s.clock.advance(3_000);
    s.setOpen(false);
    s.links[0]!.fail();
    expect(s.session.pathState.path).toBe('websocket');
    const relinks = () => s.wire.filter((m) => m.type === 'data' && m.channel === '~ctl');
    expect(relinks()).toEqual([]); // nowhere to send it
    s.setOpen(true);
    s.session.signalingRestored();
    expect(relinks()).toHaveLength(1);
    // That request is lost too (the other side's id changed, say): the retry timer asks again.
    await s.clock.advance(2_000);
    expect(relinks()).toHaveLength(2);
    await s.clock.advance(2_000);
    expect(relinks()).toHaveLength(3);
  });

  it('a role flip after a rejoin: the side that offers now makes a fresh link at once and keeps retrying', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa'); // answers while the remote id is smaller
    s.session.receiveSignal(offer('r1'));
    s.links[0]!.up();
    await s.clock.advance(3_000);
    s.setOpen(false);
    s.links[0]!.fail();
    // The remote rejoins under a larger id: this side offers from now on.
    s.setOpen(true);
    s.session.rekey('cccccccc', { peerId: 'cccccccc', userId: 'u' });
    expect(s.links).toHaveLength(2);
    expect(s.links[1]!.initiator).toBe(true);
    // Its offer is lost: a new one within the retry interval, and on.
    await s.clock.advance(2_000);
    expect(s.links).toHaveLength(3);
    s.links[2]!.up();
    expect(s.session.pathState.path).toBe('direct');
    await s.clock.advance(10_000);
    expect(s.links).toHaveLength(3);
  });

  it('answering side: the remote restarts ICE before this side saw it falter: the restore is announced here too', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa');
    const kinds: string[] = [];
    s.session.on('link', (e) => kinds.push(`${e.kind}:${e.reason}`));
    s.session.receiveSignal(offerIn('r1', 's1'));
    s.links[0]!.up();
    await s.clock.advance(10);
    const paths = s.paths.length;
    s.session.receiveSignal(offerIn('r1', 's1')); // renegotiation, same credentials: not a restart
    s.links[0]!.fire('ice-state', 'connected');
    await s.clock.advance(10);
    expect(kinds.filter((k) => k.endsWith('ice restart'))).toEqual([]);
    s.session.receiveSignal(offerIn('r2', 's1')); // same connection, new ICE credentials: a restart
    expect(s.links).toHaveLength(1);
    s.links[0]!.fire('ice-state', 'checking');
    s.links[0]!.fire('ice-state', 'connected');
    await s.clock.advance(10);
    expect(kinds.filter((k) => k.endsWith('ice restart'))).toEqual(['connected:ice restart']);
    expect(s.paths.length).toBe(paths + 1);
    expect(s.links[0]!.restarts).toEqual([]); // the answering side never restarts toward an SDK peer
  });

  it('answering side: a remote restart ICE never reports: done once the stats show a newly selected pair', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa');
    const kinds: string[] = [];
    s.session.on('link', (e) => kinds.push(`${e.kind}:${e.reason}`));
    const selected = (pairId: string) => [
      { id: 'T', type: 'transport', selectedCandidatePairId: pairId },
      {
        id: pairId,
        type: 'candidate-pair',
        localCandidateId: `L-${pairId}`,
        remoteCandidateId: `R-${pairId}`,
      },
      { id: `L-${pairId}`, type: 'local-candidate', candidateType: 'relay' },
      { id: `R-${pairId}`, type: 'remote-candidate', candidateType: 'relay' },
    ];
    s.session.receiveSignal(offerIn('r1', 's1'));
    const link = s.links[0]!;
    link.stats = selected('p1');
    link.up();
    await s.clock.advance(10);
    // libwebrtc kept reporting `connected` through the restart here: no ICE state event comes.
    s.session.receiveSignal(offerIn('r2', 's1'));
    await s.session.refreshPath();
    expect(kinds.filter((k) => k.endsWith('ice restart'))).toEqual([]); // still the old pair
    link.stats = selected('p2');
    const paths = s.paths.length;
    await s.session.refreshPath();
    await s.clock.advance(10);
    expect(kinds.filter((k) => k.endsWith('ice restart'))).toEqual(['connected:ice restart']);
    expect(s.paths.slice(paths)).toEqual(['relay']);
    await s.session.refreshPath(); // once only
    expect(kinds.filter((k) => k.endsWith('ice restart'))).toHaveLength(1);
  });

  it('a working link replaced at the remote side: websocket path at once, unacked data resent there', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa');
    s.session.receiveSignal(offerIn('r1', 's1'));
    s.links[0]!.up();
    await s.clock.advance(10);
    expect(s.session.pathState.path).toBe('direct');
    s.session.sendReliable(encodePayload('last', undefined)); // on the old link, never acked
    expect(s.links[0]!.sent).toHaveLength(1);
    s.session.receiveSignal(offerIn('r2', 's2')); // the remote made a new connection
    expect(s.links).toHaveLength(2);
    expect(s.session.pathState.path).toBe('websocket');
    expect(dataFrames(s.wire)).toEqual([{ type: 'data', to: 'aaaaaaaa', payload: 'last', seq: 1 }]);
    // The replacement never connects: the relink loop runs instead of holding data forever.
    await s.clock.advance(2_000);
    expect(s.wire.filter((m) => m.type === 'data' && m.channel === '~ctl')).toHaveLength(1);
    s.links[1]!.up();
    expect(s.session.pathState.path).toBe('direct');
  });

  it('a failed attempt says why, from the candidates each side gathered; a connected link clears it', async () => {
    const s = setup('bbbbbbbb', 'aaaaaaaa');
    s.setConfig({ iceServers: [{ urls: 'turn:198.51.100.1:3478' }] });
    const candidate = (line: string): SignalPayload => ({
      type: 'candidate',
      candidate: { candidate: `${line} ufrag r1`, sdpMid: '0', sdpMLineIndex: 0 },
    });
    s.session.receiveSignal(offer('r1'));
    s.session.receiveSignal(candidate('candidate:1 1 udp 2122260223 10.0.2.2 5000 typ host'));
    s.links[0]!.fire('signal', candidate('candidate:1 1 udp 2122260223 10.0.1.2 5000 typ host'));
    s.links[0]!.fire('signal', candidate('candidate:3 1 udp 41885439 198.51.100.1 6000 typ relay'));
    await s.clock.advance(1_000); // the deadline: the remote offers only a private address
    expect(s.failures).toEqual(['peer_denied_by_relay']);
    expect(s.session.p2pFailure).toBe('peer_denied_by_relay');
    s.links[0]!.up();
    expect(s.failures).toEqual(['peer_denied_by_relay', null]);
  });

  it('queues signals while signaling is down and sends them when it is restored', () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    s.setOpen(false);
    s.links[0]!.fire('signal', offer('L0'));
    expect(s.wire).toEqual([]);
    s.setOpen(true);
    s.session.signalingRestored();
    expect(s.wire).toEqual([{ type: 'signal', to: 'bbbbbbbb', signal: offer('L0') }]);
  });

  it('delivers reliable messages once and in order whichever path they come by', async () => {
    const s = setup('aaaaaaaa', 'bbbbbbbb');
    const m = (seq: number) => ({ kind: 'reliable' as const, seq, ...encodePayload(`m${seq}`, undefined) });
    s.session.receiveFrame(m(2));
    s.session.receiveFrame(m(1));
    s.session.receiveFrame(m(2));
    s.session.receiveFrame(m(3));
    expect(s.delivered).toEqual(['m1', 'm2', 'm3']);
    await s.clock.advance(10);
    expect(dataFrames(s.wire).at(-1)).toEqual({
      type: 'data',
      to: 'bbbbbbbb',
      channel: '~ack',
      payload: '3',
    });
  });
});
