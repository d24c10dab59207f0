/**
 * One SDK peer of the network matrix, run as a child process inside a client namespace
 * (`ip netns exec … node --import tsx test-support/matrix-peer.ts`), driven by the test over IPC.
 * It joins a room, pumps numbered reliable messages to everyone (bounded in count), records when each
 * arrives, and answers with what it saw: events, path, the selected candidate pair, loss and gaps.
 */
import { connect, type ConnectOptions } from '../sdk/node.js';
import type { Room } from '../sdk/room.js';
import { systemClock } from '../sdk/clock.js';
import { countFrames, fakeCamera } from './sdk-media.js';

export type PeerCommand =
  | {
      id: number;
      cmd: 'join';
      url: string;
      token: string;
      room: string;
      label: string;
      clockSkewMs?: number;
      options?: Partial<ConnectOptions>;
    }
  | { id: number; cmd: 'pump'; everyMs: number; max: number }
  | { id: number; cmd: 'stop-pump' }
  | { id: number; cmd: 'report' }
  | { id: number; cmd: 'publish' }
  | { id: number; cmd: 'close' };

export interface PairStats {
  peerId: string;
  path: string;
  p2pFailure: string | null;
  local?: { candidateType: string; protocol: string; relayProtocol?: string; address: string; port: number };
  remote?: { candidateType: string; protocol: string; address: string; port: number };
}

export interface Received {
  /** Sequence numbers in arrival order. */
  seqs: number[];
  firstAt: number | null;
  /** Longest time between two consecutive arrivals, ms. */
  longestGapMs: number;
}

export interface PeerReport {
  peerId: string;
  joinedAt: number;
  sent: number;
  received: Record<string, Received>;
  pairs: PairStats[];
  events: Array<{ at: number; event: string; detail: string }>;
  frames: number;
}

type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

let room: Room | null = null;
let label = '';
let joinedAt = 0;
let sent = 0;
let pumpTimer: ReturnType<typeof setInterval> | null = null;
const received: Record<string, Received> = {};
const lastAt: Record<string, number> = {};
const events: PeerReport['events'] = [];
const frameCounters: Array<() => number> = [];
const stops: Array<() => void> = [];

function note(event: string, detail: string): void {
  if (events.length < 2_000) events.push({ at: Date.now(), event, detail });
}

async function pairs(r: Room): Promise<PairStats[]> {
  const out: PairStats[] = [];
  for (const p of r.peers()) {
    const entry: PairStats = { peerId: p.peerId, path: p.path, p2pFailure: p.p2pFailure };
    const report = await r.getStats(p.peerId).catch(() => null);
    if (report) {
      const byId = new Map<string, Record<string, unknown>>();
      report.forEach((v: Record<string, unknown>) => byId.set(v.id as string, v));
      let pair: Record<string, unknown> | undefined;
      for (const v of byId.values())
        if (v.type === 'transport' && v.selectedCandidatePairId)
          pair = byId.get(v.selectedCandidatePairId as string);
      if (!pair)
        for (const v of byId.values())
          if (v.type === 'candidate-pair' && v.nominated && v.state === 'succeeded') pair = v;
      const l = pair ? byId.get(pair.localCandidateId as string) : undefined;
      const rm = pair ? byId.get(pair.remoteCandidateId as string) : undefined;
      if (l)
        entry.local = {
          candidateType: String(l.candidateType),
          protocol: String(l.protocol),
          ...(typeof l.relayProtocol === 'string' ? { relayProtocol: l.relayProtocol } : {}),
          address: String(l.address ?? l.ip),
          port: Number(l.port),
        };
      if (rm)
        entry.remote = {
          candidateType: String(rm.candidateType),
          protocol: String(rm.protocol),
          address: String(rm.address ?? rm.ip),
          port: Number(rm.port),
        };
    }
    out.push(entry);
  }
  return out;
}

async function handle(msg: PeerCommand): Promise<unknown> {
  switch (msg.cmd) {
    case 'join': {
      label = msg.label;
      const skew = msg.clockSkewMs ?? 0;
      room = await connect({
        url: msg.url,
        token: msg.token,
        room: msg.room,
        ...(skew ? { clock: { ...systemClock, now: () => Date.now() + skew } } : {}),
        ...msg.options,
      });
      joinedAt = Date.now();
      const r = room;
      r.on('data', (d) => {
        if (d.channel !== 'seq' || typeof d.data !== 'string') return;
        const [from, n] = d.data.split(':');
        const rec = (received[from!] ??= { seqs: [], firstAt: null, longestGapMs: 0 });
        const now = Date.now();
        rec.firstAt ??= now;
        if (lastAt[from!] !== undefined) rec.longestGapMs = Math.max(rec.longestGapMs, now - lastAt[from!]!);
        lastAt[from!] = now;
        rec.seqs.push(Number(n));
      });
      r.on('path', (e) => note('path', e.path));
      r.on('p2p-failed', (e) => note('p2p-failed', e.reason));
      r.on('link', (e) => note('link', `${e.kind} ${e.reason}`));
      r.on('resumed', (e) => note('resumed', e.kind));
      r.on('peer-rejoined', () => note('peer-rejoined', ''));
      r.on('error', (e) => note('error', e.error.code));
      r.on('track', (t) => {
        const c = countFrames(t.track);
        frameCounters.push(c.frames);
        stops.push(() => c.stop());
      });
      return { peerId: r.peerId, joinedAt };
    }
    case 'pump': {
      const r = room;
      if (!r) throw new Error('not joined');
      if (pumpTimer) clearInterval(pumpTimer);
      // Bounded: at most `max` messages, and stopped with the process in any case.
      pumpTimer = setInterval(() => {
        if (sent >= msg.max) return stopPump();
        r.send(`${label}:${sent}`, { channel: 'seq' });
        sent++;
      }, msg.everyMs);
      return null;
    }
    case 'stop-pump':
      stopPump();
      return { sent };
    case 'report': {
      if (!room) throw new Error('not joined');
      const report: PeerReport = {
        peerId: room.peerId,
        joinedAt,
        sent,
        received,
        pairs: await pairs(room),
        events,
        frames: frameCounters.reduce((n, f) => n + f(), 0),
      };
      return report;
    }
    case 'publish': {
      if (!room) throw new Error('not joined');
      const cam = fakeCamera();
      stops.push(() => cam.stop());
      room.publish(cam.stream);
      return null;
    }
    case 'close':
      stopPump();
      for (const s of stops.splice(0)) s();
      await room?.close();
      setTimeout(() => process.exit(0), 50);
      return null;
  }
}

function stopPump(): void {
  if (pumpTimer) clearInterval(pumpTimer);
  pumpTimer = null;
}

process.on('message', (msg: PeerCommand) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ok: true, result } satisfies Reply),
    (err: unknown) => process.send?.({ id: msg.id, ok: false, error: String(err) } satisfies Reply),
  );
});
// The test is gone: nobody will ever close us.
process.on('disconnect', () => process.exit(0));
process.stdout.write('matrix-peer ready\n');
