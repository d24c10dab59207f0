/**
 * A thin test peer: a raw signaling client plus one simple-peer link on @roamhq/wrtc, signalled through the
 * server. The SDK replaces this for applications; tests of the core use it to prove real WebRTC connects.
 */
import wrtc from '@roamhq/wrtc';
import SimplePeer from 'simple-peer';
import { TestClient } from './ws-client.js';
import type { IceServer, SignalPayload } from '../signaling/protocol/index.js';

export interface TestPeer {
  client: TestClient;
  peerId: string;
  iceServers: IceServer[];
  link: SimplePeer.Instance | null;
  /** Resolves once the data channel is open. */
  connected: Promise<void>;
  /** Data-channel messages received, as strings. */
  received: string[];
  close(): Promise<void>;
}

export interface TestPeerOptions {
  relayOnly?: boolean;
  /** Replace the ICE servers from the welcome (e.g. to point at another relay). */
  iceServers?: IceServer[];
}

/** Join `room`; if another member is present, this peer initiates to it (the newcomer offers). */
export async function joinAsPeer(
  wsUrl: string,
  token: string,
  room: string,
  options: TestPeerOptions = {},
): Promise<TestPeer> {
  const client = await TestClient.connect(wsUrl, { token });
  const welcome = await client.join(room);
  const iceServers = options.iceServers ?? welcome.iceServers;
  let resolveConnected!: () => void;
  let rejectConnected!: (e: unknown) => void;
  const connected = new Promise<void>((res, rej) => {
    resolveConnected = res;
    rejectConnected = rej;
  });
  const peer: TestPeer = {
    client,
    peerId: welcome.peerId,
    iceServers,
    link: null,
    connected,
    received: [],
    close: async () => {
      peer.link?.destroy();
      await client.close();
    },
  };
  const makeLink = (remote: string, initiator: boolean) => {
    const link = new SimplePeer({
      initiator,
      wrtc,
      trickle: true,
      config: { iceServers, iceTransportPolicy: options.relayOnly ? 'relay' : 'all' },
    });
    link.on('signal', (signal: SignalPayload) => client.send({ type: 'signal', to: remote, signal }));
    link.on('connect', resolveConnected);
    link.on('error', rejectConnected);
    link.on('data', (d: Buffer) => peer.received.push(d.toString('utf8')));
    peer.link = link;
    return link;
  };
  const first = welcome.members[0];
  if (first) makeLink(first.peerId, true);
  client.ws.on('message', (raw: Buffer) => {
    const msg = JSON.parse(raw.toString('utf8')) as { type: string; from?: string; signal?: SignalPayload };
    if (msg.type !== 'signal' || !msg.from || !msg.signal) return;
    (peer.link ?? makeLink(msg.from, false)).signal(msg.signal as SimplePeer.SignalData);
  });
  return peer;
}

/** The type of the local candidate of the selected pair ('host', 'srflx', 'relay'). */
export async function selectedCandidateType(link: SimplePeer.Instance): Promise<string | undefined> {
  const pc = (link as unknown as { _pc: RTCPeerConnection })._pc;
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((s: { type: string; selectedCandidatePairId?: string }) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  let localId: string | undefined;
  stats.forEach(
    (s: { type: string; id: string; state?: string; nominated?: boolean; localCandidateId?: string }) => {
      if (
        s.type === 'candidate-pair' &&
        (s.id === pairId || (!pairId && s.state === 'succeeded' && s.nominated))
      ) {
        localId = s.localCandidateId;
      }
    },
  );
  let type: string | undefined;
  stats.forEach((s: { type: string; id: string; candidateType?: string }) => {
    if (s.id === localId) type = s.candidateType;
  });
  return type;
}
