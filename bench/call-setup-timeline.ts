/**
 * The timeline of one call setup between two Node SDK peers, for the bench output: every signaling frame
 * each side sends and receives (with its type, and a signal's kind), the WebRTC milestones, and the first
 * data-channel message, each in ms from the second peer's `connect()`. It shows which steps wait on a
 * round trip and which on local work, so the call-setup figure can be read step by step.
 *
 *   npx tsx bench/call-setup-timeline.ts [runs]
 */
import { fileURLToPath } from 'node:url';
import { connect } from '../sdk/node.js';
import { nodePlatform } from '../sdk/platform/node.js';
import type { Platform, SocketLike } from '../sdk/platform/platform.js';
import { startSignaling } from '../test-support/signaling.js';

export interface Step {
  /** ms since the second peer's connect() */
  at: number;
  who: 'a' | 'b';
  what: string;
}

/** What a frame is, in a few words: its type, a signal's kind, a batch's size. */
function describe(text: string): string {
  try {
    const m = JSON.parse(text) as { type?: string; signal?: { type?: string } };
    return m.type === 'signal' ? `signal ${m.signal?.type ?? '?'}` : (m.type ?? '?');
  } catch {
    return 'non-JSON';
  }
}

/** The Node platform with every WebSocket frame and the peer connection's states recorded into `steps`. */
function tracing(who: Step['who'], steps: Step[], t0: () => number): Platform {
  const base = nodePlatform();
  const log = (what: string) => steps.push({ at: performance.now() - t0(), who, what });
  const Pc = base.wrtc.RTCPeerConnection as new (config?: RTCConfiguration) => RTCPeerConnection;
  class TracedPc extends Pc {
    constructor(config?: RTCConfiguration) {
      super(config);
      log('RTCPeerConnection created');
      this.addEventListener('icegatheringstatechange', () => log(`ICE gathering ${this.iceGatheringState}`));
      this.addEventListener('iceconnectionstatechange', () => log(`ICE ${this.iceConnectionState}`));
      this.addEventListener('datachannel', () => log('remote data channel'));
    }
  }
  return {
    ...base,
    wrtc: { ...base.wrtc, RTCPeerConnection: TracedPc },
    createWebSocket(url, protocols) {
      log('WebSocket opening');
      const ws = base.createWebSocket(url, protocols);
      const send = ws.send.bind(ws);
      ws.send = (data: string) => {
        log(`→ ${describe(data)}`);
        send(data);
      };
      // ws keeps its handlers behind accessors on its prototype: wrap what the SDK sets, then hand it on.
      const wrap = <K extends 'onopen' | 'onmessage'>(key: K, before: (ev: never) => void) => {
        const proto = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(ws), key)!;
        Object.defineProperty(ws, key, {
          get: () => proto.get!.call(ws) as SocketLike[K],
          set: (fn: ((ev: never) => void) | null) =>
            proto.set!.call(ws, fn && ((ev: never) => (before(ev), fn(ev)))),
        });
      };
      wrap('onopen', () => log('WebSocket open'));
      wrap('onmessage', (ev: { data: unknown }) => log(`← ${describe(String(ev.data))}`));
      return ws;
    },
  };
}

/** One setup, traced: a joins first, then b connects; a sends the first message once its link connects. */
export async function callSetupTimeline(): Promise<{ totalMs: number; steps: Step[] }> {
  const sig = await startSignaling({ RATE_LIMIT_PER_S: '1000', RATE_LIMIT_BURST: '1000' });
  const steps: Step[] = [];
  let t0 = performance.now();
  const start = () => t0;
  try {
    const room = 'timeline';
    const a = await connect({
      url: sig.wsUrl,
      token: sig.token('a', [room]),
      room,
      platform: tracing('a', steps, start),
    });
    steps.length = 0;
    t0 = performance.now();
    steps.push({ at: 0, who: 'b', what: 'connect()' });
    const bP = connect({
      url: sig.wsUrl,
      token: sig.token('b', [room]),
      room,
      platform: tracing('b', steps, start),
    });
    a.on('link', (e) => {
      if (e.kind === 'connected') {
        steps.push({ at: performance.now() - t0, who: 'a', what: 'link connected: send' });
        a.send('first', { to: e.peerId });
      }
    });
    const b = await bP;
    steps.push({ at: performance.now() - t0, who: 'b', what: 'connect() resolved' });
    const totalMs = await new Promise<number>((resolve) =>
      b.on('data', () => {
        const at = performance.now() - t0;
        steps.push({ at, who: 'b', what: 'first data-channel message' });
        resolve(at);
      }),
    );
    await Promise.all([a.close(), b.close()]);
    return { totalMs, steps: steps.filter((s) => s.at <= totalMs).sort((x, y) => x.at - y.at) };
  } finally {
    await sig.close();
  }
}

/** The timeline as lines for the bench output. */
export function formatTimeline({ totalMs, steps }: { totalMs: number; steps: Step[] }): string[] {
  return [
    `call setup timeline (one run, ${totalMs.toFixed(1)} ms):`,
    ...steps.map((s) => `  ${s.at.toFixed(1).padStart(7)} ms  ${s.who}  ${s.what}`),
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runs = Number(process.argv[2] ?? 1);
  for (let i = 0; i < runs; i++) console.log(formatTimeline(await callSetupTimeline()).join('\n'));
  process.exit(0);
}
