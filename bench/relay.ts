/**
 * Figure: TURN relay. Two @roamhq/wrtc peers with relay-only policy send unreliable, unordered data-channel
 * messages of a fixed size through the relay as fast as the send buffer allows for a fixed time. Reports
 * messages and Mbit/s delivered, loss, p99 one-way latency, and the relay process's CPU. The same client
 * and load run against the bundled relay (`turn/main.ts`) and coturn (`turnserver` from Debian).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import wrtc from '@roamhq/wrtc';
import { selfSignedCertificate } from '../turn/relay/self-signed.js';
import { mintTurnCredential } from '../turn/credentials/rest-credentials.js';
import { freeTcpPort, freeUdpTcpPort, startScript } from '../test-support/processes.js';
import { findTool } from '../test-support/tools.js';
import { cpuSeconds } from './targets.js';
import { percentile, round } from './stats.js';

export const SECRET = 'bench-relay-secret';

export interface RelayResult {
  messagesPerSecond: number;
  mbitPerSecond: number;
  lossPercent: number;
  p50ms: number;
  /** One-way, at 1 000 messages/s (unsaturated). */
  p99ms: number;
  relayCpuPercent: number;
  /** Relay CPU milliseconds per 1 000 messages delivered in the throughput phase. */
  cpuMsPer1000: number;
}

export interface RunningRelay {
  name: 'bundled' | 'coturn';
  /** UDP port (and, for both relays, the TCP port too). */
  port: number;
  /** TURN over TLS port, when the relay offers one (a TLS handshake there succeeded). */
  tlsPort?: number | undefined;
  pid: number;
  stop(): Promise<void>;
}

let certificateFiles: { certFile: string; keyFile: string } | undefined;

/** One self-signed certificate for the run, as files: both relays read theirs from files. */
export function benchCertificateFiles(): { certFile: string; keyFile: string } {
  if (certificateFiles) return certificateFiles;
  const dir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
  const pair = selfSignedCertificate({ hosts: ['localhost', '127.0.0.1'] });
  certificateFiles = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') };
  writeFileSync(certificateFiles.certFile, pair.cert);
  writeFileSync(certificateFiles.keyFile, pair.key, { mode: 0o600 });
  return certificateFiles;
}

/**
 * Whether a TLS handshake completes on `port` within `timeoutMs` (any certificate: the bench trusts it).
 * With `whileRefused`, tries again while the port refuses: coturn opens its TLS listener after the line
 * the bench waits for. The bound is generous because the machine may be busy; a success returns at once.
 */
export async function speaksTls(port: number, timeoutMs: number, whileRefused: boolean): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    const outcome = await tlsHandshake(port, end - performance.now());
    if (outcome !== 'refused' || !whileRefused) return outcome === 'ok';
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function tlsHandshake(port: number, timeoutMs: number): Promise<'ok' | 'refused' | 'failed'> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    const done = (outcome: 'ok' | 'refused' | 'failed') => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('failed'), timeoutMs);
    socket.once('secureConnect', () => done('ok'));
    socket.once('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ECONNREFUSED' ? 'refused' : 'failed'),
    );
  });
}

/**
 * The bundled relay as its own process. It is asked for TURN over TLS on a free port with the run's
 * certificate files (TURN_TLS_PORT, TURN_TLS_CERT_FILE, TURN_TLS_KEY_FILE); `tlsPort` is set only when a
 * handshake there succeeds, so the TLS figure runs as soon as the relay serves TLS and is skipped before.
 */
export async function startBundled(): Promise<RunningRelay> {
  const port = await freeUdpTcpPort();
  const tlsPort = await freeTcpPort();
  const { certFile, keyFile } = benchCertificateFiles();
  const p = startScript('turn/main.ts', [], {
    TURN_TLS_PORT: String(tlsPort),
    TURN_TLS_CERT_FILE: certFile,
    TURN_TLS_KEY_FILE: keyFile,
    TURN_SECRETS: SECRET,
    TURN_PORT: String(port),

    TURN_MIN_PORT: '41000',
    TURN_MAX_PORT: '41999',
    TURN_ALLOWED_PEER_IPS: '127.0.0.0/8',
    TURN_METRICS_PORT: String(await freeTcpPort()),
    LOG_LEVEL: 'warn',
  });
  await p.waitFor(/relay started/, 30_000);
  return {
    name: 'bundled',
    port,
    // Ours logs "relay started" once every listener is open: a refused port means no TLS.
    tlsPort: (await speaksTls(tlsPort, 10_000, false)) ? tlsPort : undefined,
    pid: p.child.pid!,
    stop: async () => (p.kill('SIGKILL'), void (await p.exited)),
  };
}

export async function startCoturn(): Promise<RunningRelay | null> {
  const bin = findTool('turnserver');
  if (!bin) return null;
  const port = await freeUdpTcpPort();
  const tlsPort = await freeTcpPort();
  const { certFile, keyFile } = benchCertificateFiles();
  const child = spawn(
    bin,
    [
      '-n',
      '--listening-ip=127.0.0.1',
      `--listening-port=${port}`,
      // TCP on the listening port (coturn's default) and TLS on its own, like ours.
      `--tls-listening-port=${tlsPort}`,
      `--cert=${certFile}`,
      `--pkey=${keyFile}`,
      '--min-port=42000',
      '--max-port=42999',
      '--use-auth-secret',
      `--static-auth-secret=${SECRET}`,
      '--realm=bench',
      '--allow-loopback-peers',
      '--no-cli',
      '--no-dtls',
      '--fingerprint',
      '--no-tcp-relay',
      '--log-file=stdout',
      '--simple-log',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 3000);
    child.stdout.on('data', (d: Buffer) => {
      if (/Total UDP servers|IPv4\. UDP listener opened/.test(String(d))) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    name: 'coturn',
    port,
    tlsPort: (await speaksTls(tlsPort, 10_000, true)) ? tlsPort : undefined,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** One timed run of relayed data-channel traffic through `relay`. */
export async function relayLoad(
  relay: RunningRelay,
  payloadBytes: number,
  seconds: number,
): Promise<RelayResult> {
  const cred = mintTurnCredential({ secret: SECRET, userId: 'bench', ttlSeconds: 600 });
  const config = {
    iceServers: [
      {
        urls: `turn:127.0.0.1:${relay.port}?transport=udp`,
        username: cred.username,
        credential: cred.credential,
      },
    ],
    iceTransportPolicy: 'relay' as const,
  };
  const a = new wrtc.RTCPeerConnection(config);
  const b = new wrtc.RTCPeerConnection(config);
  a.onicecandidate = (e) => e.candidate && void b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && void a.addIceCandidate(e.candidate);
  const channelA = a.createDataChannel('load', { ordered: false, maxRetransmits: 0 });
  const channelB = new Promise<RTCDataChannel>((resolve) => (b.ondatachannel = (e) => resolve(e.channel)));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription!);
  await new Promise<void>((resolve, reject) => {
    channelA.onopen = () => resolve();
    setTimeout(() => reject(new Error('relayed data channel did not open')), 20_000);
  });
  const rx = await channelB;
  rx.binaryType = 'arraybuffer';
  const latencies: number[] = [];
  let received = 0;
  let sampling = false;
  const origin = performance.now();
  rx.onmessage = (e: MessageEvent<ArrayBuffer>) => {
    received++;
    if (sampling) latencies.push(performance.now() - origin - new DataView(e.data).getFloat64(0));
  };
  const payload = new Uint8Array(payloadBytes);
  const view = new DataView(payload.buffer);
  const send = () => {
    view.setFloat64(0, performance.now() - origin);
    channelA.send(payload);
  };
  // Phase 1, throughput: keep the send buffer near-full without letting it grow unbounded.
  let sent = 0;
  const cpu0 = cpuSeconds(relay.pid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) {
    while (channelA.bufferedAmount < 256 * 1024 && performance.now() < end) {
      send();
      sent++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  const elapsed = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  const cpu = cpuSeconds(relay.pid) - cpu0;
  const delivered = received;
  // Phase 2, latency at a fixed, unsaturated rate (1 000 messages/s for 2 s): queueing excluded.
  sampling = true;
  for (let tick = 0; tick < 200; tick++) {
    for (let i = 0; i < 10; i++) send();
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 300));
  a.close();
  b.close();
  return {
    messagesPerSecond: round(delivered / elapsed, 0),
    mbitPerSecond: round((delivered * payloadBytes * 8) / elapsed / 1e6, 1),
    lossPercent: round(sent ? ((sent - delivered) / sent) * 100 : 0, 1),
    p50ms: round(percentile(latencies, 50), 2),
    p99ms: round(percentile(latencies, 99), 2),
    relayCpuPercent: round((cpu / (elapsed + 1)) * 100, 0),
    cpuMsPer1000: round(((cpu * 1000) / Math.max(1, delivered)) * 1000, 1),
  };
}
