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
): Promise<PacketResult> {
  const cred = mintTurnCredential({ secret, userId: 'bench', ttlSeconds: 600 });
  const server = { host: '127.0.0.1', port: transport === 'tls' ? relay.tlsPort! : relay.port };
  const client =
    transport === 'udp'
      ? await TurnClient.connect(server, cred.username, cred.credential)
      : await TurnClient.connectStream(server, cred.username, cred.credential, {
          transport,
          // The run's own self-signed certificate; the figure is CPU, not trust.
          tls: { rejectUnauthorized: false },
        });
  const peer: Socket = await udpSocket();
  try {
    if ((await client.allocate()).code !== 0) throw new Error('allocate failed');
    const peerAddr = { address: '127.0.0.1', port: peer.address().port };
    if ((await client.channelBind(CHANNEL, peerAddr)).code !== 0) throw new Error('channel bind failed');
    const relayed = client.relayed!;

    const origin = performance.now();
    const latencies: number[] = [];
    let received = 0;
    const onArrival = (sentAt: number) => {
      received++;
      if ((received & 15) === 0) latencies.push(performance.now() - origin - sentAt);
    };
    // Client side gets ChannelData (4-byte header, stream padding already cut); the peer the bare payload.
    client.takeFrames((m) => m.length >= 12 && onArrival(m.readDoubleLE(4)));
    peer.on('message', (m: Buffer) => m.length >= 8 && onArrival(m.readDoubleLE(0)));

    const toPeer = encodeChannelData(CHANNEL, Buffer.alloc(payloadBytes), transport !== 'udp');
    const toClient = Buffer.alloc(payloadBytes);
    const perTick = Math.max(1, Math.round(offeredPerSecond / 1000 / 2));
    let sent = 0;
    const cpu0 = cpuSeconds(relay.pid);
    const t0 = performance.now();
    const end = t0 + seconds * 1000;
    let next = t0;
    while (performance.now() < end) {
      // Paced in 1 ms slots; a late slot is made up, so the offered rate holds on average.
      while (next <= performance.now() && next < end) {
        for (let i = 0; i < perTick; i++) {
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
    peer.close();
    await client.close();
  }
}
