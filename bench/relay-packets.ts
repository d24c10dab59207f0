/**
 * Figure: the relay's own packet path, without a WebRTC stack in the way. One TURN client (channel bound,
 * as libwebrtc does once a pair is chosen), over UDP, TCP or TLS to the relay (RFC 8656 §3.1), and one
 * UDP peer on loopback send ChannelData and plain UDP through
 * the relay in both directions at a fixed offered rate for a fixed time. Reports packets delivered per
 * second, loss, p50/p99 one-way latency and the relay process's CPU per packet. The same client and load
 * run against the bundled relay and coturn. The load generator shares the machine's second core, so the
 * offered rates stay below what it can drive; the CPU per packet is the figure that compares relays.
 */
import type { Socket } from 'node:dgram';
import { mintTurnCredential } from '../turn/credentials/rest-credentials.js';
import { TurnClient, udpSocket, type TurnTransport } from '../test-support/turn-client.js';
import { encodeChannelData } from '../turn/stun/channel-data.js';
import { cpuSeconds } from './targets.js';
import { percentile, round } from './stats.js';

export interface PacketResult {
  deliveredPerSecond: number;
  lossPercent: number;
  p50ms: number;
  p99ms: number;
  /** Relay CPU microseconds per packet delivered. */
  cpuUsPerPacket: number;
}

const CHANNEL = 0x4000;

/** Relayed packets carry their send time (ms since `origin`) in their first 8 bytes. */
function stamp(buf: Buffer, offset: number, origin: number): void {
  buf.writeDoubleLE(performance.now() - origin, offset);
}

export async function packetLoad(
  relay: { port: number; tlsPort?: number | undefined; pid: number },
  secret: string,
  payloadBytes: number,
  offeredPerSecond: number,
  seconds: number,
  transport: TurnTransport = 'udp',
  /**
   * Clients, each with its own allocation, channel and peer socket, the load spread evenly: one 5-tuple
   * reaches one relay worker (or coturn thread), so several are needed to load every core. Default 1.
   */
  clientCount = 1,
): Promise<PacketResult> {
  const cred = mintTurnCredential({ secret, userId: 'bench', ttlSeconds: 600 });
  const server = { host: '127.0.0.1', port: transport === 'tls' ? relay.tlsPort! : relay.port };
  const pairs: Array<{ client: TurnClient; peer: Socket; relayed: { address: string; port: number } }> = [];
  try {
    for (let i = 0; i < clientCount; i++) {
      const client =
        transport === 'udp'
          ? await TurnClient.connect(server, cred.username, cred.credential)
          : await TurnClient.connectStream(server, cred.username, cred.credential, {
              transport,
              // The run's own self-signed certificate; the figure is CPU, not trust.
              tls: { rejectUnauthorized: false },
            });
      const peer: Socket = await udpSocket();
      pairs.push({ client, peer, relayed: { address: '', port: 0 } });
      if ((await client.allocate()).code !== 0) throw new Error('allocate failed');
      const peerAddr = { address: '127.0.0.1', port: peer.address().port };
      if ((await client.channelBind(CHANNEL, peerAddr)).code !== 0) throw new Error('channel bind failed');
      pairs[i]!.relayed = client.relayed!;
    }

    const origin = performance.now();
    const latencies: number[] = [];
    let received = 0;
    const onArrival = (sentAt: number) => {
      received++;
      if ((received & 15) === 0) latencies.push(performance.now() - origin - sentAt);
    };
    for (const { client, peer } of pairs) {
      // Client side gets ChannelData (4-byte header, stream padding already cut); the peer the payload.
      client.takeFrames((m) => m.length >= 12 && onArrival(m.readDoubleLE(4)));
      peer.on('message', (m: Buffer) => m.length >= 8 && onArrival(m.readDoubleLE(0)));
    }

    const toPeer = encodeChannelData(CHANNEL, Buffer.alloc(payloadBytes), transport !== 'udp');
    const toClient = Buffer.alloc(payloadBytes);
    const perTick = Math.max(1, Math.round(offeredPerSecond / 1000 / 2));
    let sent = 0;
    let turn = 0;
    const cpu0 = cpuSeconds(relay.pid);
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let next = t0;
    while (performance.now() < end) {
      // Paced in 1 ms slots; a late slot is made up, so the offered rate holds on average.
      while (next <= performance.now() && next < end) {
        for (let i = 0; i < perTick; i++) {
          const { client, peer, relayed } = pairs[turn++ % pairs.length]!;
          stamp(toPeer, 4, origin);
          // A stream may queue the bytes: it gets its own copy, since the buffer is stamped again.
          client.sendRaw(transport === 'udp' ? toPeer : Buffer.from(toPeer));
          stamp(toClient, 0, origin);
          peer.send(toClient, relayed.port, relayed.address);
          sent += 2;
        }
        next += 1;
      }
      await new Promise((r) => setImmediate(r));
    }
    const elapsed = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 500));
    const cpu = cpuSeconds(relay.pid) - cpu0;
    return {
      deliveredPerSecond: round(received / elapsed, 0),
      lossPercent: round(sent ? ((sent - received) / sent) * 100 : 0, 2),
      p50ms: round(percentile(latencies, 50), 3),
      p99ms: round(percentile(latencies, 99), 3),
      cpuUsPerPacket: round((cpu * 1e6) / Math.max(1, received), 2),
    };
  } finally {
    for (const { client, peer } of pairs) {
      peer.close();
      await client.close();
    }
  }
}

export interface CapacityResult {
  /** The highest delivered rate among the steps whose loss stayed at or under `maxLossPercent`. */
  packetsPerSecond: number;
  /** Relay CPU per packet at that step (µs): the relay process's own threads, from /proc. */
  cpuUsPerPacket: number;
  /** The offered rate of that step. */
  offeredPerSecond: number;
}

/**
 * Packets per second one machine relays: the offered rate (spread over `clientCount` clients, so every
 * relay core gets some) goes up step by step until more than `maxLossPercent` is lost, and the last
 * step within it counts. The load generator runs on the same cores: its CPU is not counted (the relay's
 * is read from /proc/<pid>/stat, which covers every thread of the relay process, workers included), but
 * it competes for the cores, so the figure is what this machine relays with its own load beside it.
 */
export async function packetCapacity(
  relay: { port: number; pid: number },
  secret: string,
  payloadBytes: number,
  seconds: number,
  clientCount: number,
  rates: readonly number[],
  maxLossPercent = 1,
): Promise<CapacityResult> {
  let best: CapacityResult = { packetsPerSecond: 0, cpuUsPerPacket: 0, offeredPerSecond: 0 };
  for (const rate of rates) {
    const r = await packetLoad(relay, secret, payloadBytes, rate, seconds, 'udp', clientCount);
    if (r.lossPercent > maxLossPercent) break;
    if (r.deliveredPerSecond > best.packetsPerSecond)
      best = {
        packetsPerSecond: r.deliveredPerSecond,
        cpuUsPerPacket: r.cpuUsPerPacket,
        offeredPerSecond: rate,
      };
  }
  return best;
}
