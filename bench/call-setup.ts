/**
 * Figure: call setup. From `connect()` of the second peer to the first data-channel message between two
 * Node SDK peers on loopback (median of N), against two bare simple-peer peers signalled in-process: the
 * floor no signaling server can beat.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { connect } from '../sdk/node.js';
import type { IceServer } from '../signaling/protocol/index.js';
import { startSignaling } from '../test-support/signaling.js';
import { median, round } from './stats.js';

/** ms from the second peer's connect() until the first peer's message arrives on a data channel. */
export async function sdkCallSetup(
  runs: number,
  options: {
    iceServers?: IceServer[];
    relayOnly?: boolean;
    deps?: Parameters<typeof startSignaling>[1];
  } = {},
): Promise<number> {
  const sig = await startSignaling(
    { RATE_LIMIT_PER_S: '1000', RATE_LIMIT_BURST: '1000' },
    options.deps ?? {},
  );
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const room = `setup-${i}`;
      const extra = {
        ...(options.iceServers ? { iceServers: options.iceServers } : {}),
        ...(options.relayOnly ? { iceTransportPolicy: 'relay' as const } : {}),
      };
      const a = await connect({ url: sig.wsUrl, token: sig.token(`a${i}`, [room]), room, ...extra });
      const t0 = performance.now();
      const b = await connect({ url: sig.wsUrl, token: sig.token(`b${i}`, [room]), room, ...extra });
      const got = new Promise<number>((resolve) => b.on('data', () => resolve(performance.now() - t0)));
      // Send the moment a's link to b connects: the message then travels on the data channel.
      a.on('link', (e) => {
        if (e.kind === 'connected') a.send('first', { to: e.peerId });
      });
      samples.push(await got);
      await Promise.all([a.close(), b.close()]);
    }
  } finally {
    await sig.close();
  }
  return round(median(samples), 1);
}

export async function bareSimplePeerSetup(runs: number, config?: RTCConfiguration): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const a = new SimplePeer({ initiator: true, wrtc, trickle: true, ...(config ? { config } : {}) });
    const b = new SimplePeer({ wrtc, trickle: true, ...(config ? { config } : {}) });
    a.on('signal', (d: SimplePeer.SignalData) => b.signal(d));
    b.on('signal', (d: SimplePeer.SignalData) => a.signal(d));
    a.on('connect', () => a.send('first'));
    samples.push(await new Promise<number>((resolve) => b.on('data', () => resolve(performance.now() - t0))));
    a.destroy();
    b.destroy();
  }
  return round(median(samples), 1);
}

/**
 * The floor for the SDK as it is now (its links are RTCPeerConnections of its own, `sdk/peer/rtc-link.ts`,
 * not simple-peer): two bare RTCPeerConnections on the same @roamhq/wrtc, in this process, with the same
 * ICE servers, trickling candidates to each other by function call, and one negotiated data channel as the
 * SDK's reliable channel is (so no in-band channel-open round trip either side). From the creation of the
 * pair to the first message at the answerer.
 */
export async function bareRtcSetup(runs: number, config: RTCConfiguration = {}): Promise<number> {
  const Pc = wrtc.RTCPeerConnection;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const a = new Pc(config);
    const b = new Pc(config);
    const trickle = (from: RTCPeerConnection, to: RTCPeerConnection) =>
      from.addEventListener('icecandidate', (e) => {
        if (e.candidate) void to.addIceCandidate(e.candidate).catch(() => undefined);
      });
    trickle(a, b);
    trickle(b, a);
    const ca = a.createDataChannel('first', { negotiated: true, id: 0 });
    const cb = b.createDataChannel('first', { negotiated: true, id: 0 });
    const got = new Promise<number>((resolve) => {
      cb.onmessage = () => resolve(performance.now() - t0);
    });
    ca.onopen = () => ca.send('first');
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    samples.push(await got);
    a.close();
    b.close();
  }
  return round(median(samples), 1);
}
