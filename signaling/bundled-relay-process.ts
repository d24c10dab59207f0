/**
 * The bundled relay as `npm start` runs it: a child process of the supervisor (`supervisor.ts`), so a
 * signaling crash leaves relayed calls running (a relay inside the signaling process died with it and
 * stalled every relayed call for 10–17 s while ICE found no path). The relay's own code is untouched;
 * this file only starts it, reports its port once and its figures as they change, and stops it.
 *
 * Figures go child → supervisor → signaling over Node's IPC channel with the `advanced` serialization
 * (structured clone keeps the counters' Map), and signaling serves them on its /metrics as before.
 * Commands go the other way, signaling → supervisor → this child, as relay-control messages
 * (turn/relay/relay-control.ts), validated again here before the relay applies them.
 */
import { pino } from 'pino';
import type { RelayAddress, RelayStats } from '../turn/relay/relay.js';
import { startRelay } from '../turn/relay/start-relay.js';
import {
  applyRelayControl,
  isRelayControlEnvelope,
  parseRelayControlMessage,
} from '../turn/relay/relay-control.js';
import type { TurnConfig } from '../turn/config.js';

/** Messages on the IPC channels between the relay child, the supervisor and the signaling child. */
export type RelayIpcMessage =
  { type: 'relay-ready'; address: RelayAddress } | { type: 'relay-stats'; stats: RelayStats };

/** ms between checks for changed figures (a scrape sees an allocation at most this late). */
const STATS_INTERVAL_MS = 200;

export function isRelayIpcMessage(m: unknown): m is RelayIpcMessage {
  const type = (m as { type?: unknown } | null)?.type;
  return type === 'relay-ready' || type === 'relay-stats';
}

/** Run the relay in this process and talk to the parent; exits when told to stop or when orphaned. */
export async function runBundledRelay(config: TurnConfig, logLevel: string): Promise<void> {
  const send = (m: RelayIpcMessage) => process.send?.(m);
  const logger = pino({ level: logLevel, base: { component: 'turn' } });
  // Signaling announces its rooms' addresses to this relay, so room scope is on unless configured off.
  const relay = await startRelay({ ...config, roomScope: config.roomScope ?? 'on', logger });
  process.on('message', (m: unknown) => {
    if (!isRelayControlEnvelope(m)) return;
    const command = parseRelayControlMessage(m);
    if (command) applyRelayControl(relay, command);
    else logger.warn('malformed relay-control message ignored');
  });
  send({ type: 'relay-ready', address: relay.address });
  let last = '';
  const report = () => {
    const stats = relay.stats();
    const key = JSON.stringify({
      ...stats,
      counters: { ...stats.counters, allocate: [...stats.counters.allocate] },
    });
    if (key === last) return;
    last = key;
    send({ type: 'relay-stats', stats });
  };
  report();
  const timer = setInterval(report, STATS_INTERVAL_MS);
  logger.info({ port: relay.address.port, pid: process.pid }, 'bundled relay started');

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    logger.info({ why }, 'bundled relay stopping');
    relay
      .close()
      .then(() => process.exit(0))
      .catch(() => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The supervisor is gone (killed): nobody restarts signaling or stops us, so stop.
  process.on('disconnect', () => stop('supervisor gone'));
}
