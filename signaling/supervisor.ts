/**
 * `npm start`'s supervisor: runs the signaling server and the bundled relay as two child processes and
 * restarts either one when it dies, independently of the other. A signaling crash (a bug, an OOM kill)
 * then leaves the relay and its allocations alone, so relayed calls keep flowing while signaling comes
 * back and the SDK resumes; a relay crash leaves signaling up. The supervisor itself holds no sockets and
 * does nothing but start, watch, restart and stop; it generates the development secrets once so that
 * both children, and every restart, share them (tokens and TURN credentials stay valid).
 *
 * It also routes relay-control commands (turn/relay/relay-control.ts) from signaling to the relay: each
 * is validated, forwarded to the running relay child, and revocations are kept until their cutoff passes
 * and replayed to a relay child that (re)starts, so a relay restart does not forget who was revoked.
 * Without Redis it also keeps signaling's own revocations for a restarted signaling child
 * (supervised-revocations.ts).
 *
 * Signals: SIGTERM/SIGINT are passed to signaling (which drains), then the relay is stopped; a second
 * signal kills both at once. The children run in their own process groups so that Ctrl-C reaches them
 * only through here, once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_CONFIG } from '../config/env-table.js';
import type { RelayAddress } from '../turn/relay/relay.js';
import { isRelayIpcMessage, type RelayIpcMessage } from './bundled-relay-process.js';
import {
  isRelayControlEnvelope,
  parseRelayControlMessage,
  type RelayControlMessage,
} from '../turn/relay/relay-control.js';
import {
  isRevocationEnvelope,
  KeptRevocations,
  parseRevocationChildMessage,
} from './supervised-revocations.js';

/** This entry point again (`main.ts` under tsx, `main.js` once built into dist/). */
const ENTRY = fileURLToPath(new URL(`./main${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** ms before restarting a child that died; doubled for each crash within `STABLE_MS`, up to `MAX`. */
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 5_000;
/** A child that ran this long is healthy again: its next crash restarts it after the base delay. */
const STABLE_MS = 30_000;
// A child exiting with EXIT_CONFIG (a bad value, a port in use) is not restarted: restarting cannot fix
// it, so the supervisor stops the other child and exits with it, and the child's message is the last word.

interface Supervised {
  name: 'signaling' | 'relay';
  args: () => string[];
  child: ChildProcess | null;
  startedAt: number;
  delayMs: number;
}

export interface SupervisorOptions {
  /** Environment for both children (the supervisor's own, plus the secrets it generated). */
  env: NodeJS.ProcessEnv;
  /** Extra arguments for the signaling child. */
  signalingArgs: string[];
  /** The script both children run with their `--role`; default this entry point (`main.ts`). */
  entry?: string;
  log: (line: string) => void;
}

export function runSupervisor(options: SupervisorOptions): void {
  let relayAddress: RelayAddress | null = null;
  let lastStats: RelayIpcMessage | null = null;
  let stopping = false;
  /** Revocations to replay to a restarted relay, by user: the latest cutoff (unix seconds). */
  const revoked = new Map<string, number>();
  const toRelay = (m: RelayControlMessage) => {
    if (relay.child?.connected) relay.child.send(m);
  };
  /** Forget revocations whose cutoff has passed (the relay has forgotten them too). */
  const pruneRevocations = () => {
    const now = Date.now() / 1000;
    for (const [userId, cutoff] of revoked) if (cutoff <= now) revoked.delete(userId);
  };
  const onControl = (raw: unknown) => {
    const m = parseRelayControlMessage(raw);
    if (!m) return options.log('supervisor: malformed relay-control message from signaling ignored');
    if (m.op === 'revoke-user') {
      pruneRevocations();
      revoked.set(m.userId, Math.max(revoked.get(m.userId) ?? 0, m.credentialsExpiringBy));
    }
    toRelay(m);
  };
  /** Signaling's own revocations, kept for a restarted child when there is no Redis to keep them. */
  const keptRevocations = new KeptRevocations();
  const replayRevocations = () => {
    pruneRevocations();
    for (const [userId, credentialsExpiringBy] of revoked)
      toRelay({ type: 'relay-control', op: 'revoke-user', userId, credentialsExpiringBy });
  };
  const children: Supervised[] = [
    { name: 'relay', args: () => ['--role=relay'], child: null, startedAt: 0, delayMs: RESTART_BASE_MS },
    {
      name: 'signaling',
      args: () => ['--role=signaling', `--relay=${JSON.stringify(relayAddress)}`, ...options.signalingArgs],
      child: null,
      startedAt: 0,
      delayMs: RESTART_BASE_MS,
    },
  ];
  const [relay, signaling] = children as [Supervised, Supervised];

  const start = (s: Supervised) => {
    // The same node flags (tsx's loader in development), the same working directory.
    const child = spawn(process.execPath, [...process.execArgv, options.entry ?? ENTRY, ...s.args()], {
      env: options.env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
      detached: true,
    });
    s.child = child;
    s.startedAt = Date.now();
    options.log(`supervisor: ${s.name} running (pid ${child.pid ?? '?'})`);
    child.on('message', (m: unknown) => {
      if (s === signaling && isRelayControlEnvelope(m)) return onControl(m);
      if (s === signaling && isRevocationEnvelope(m)) {
        const parsed = parseRevocationChildMessage(m);
        if (!parsed) return options.log('supervisor: malformed revocation message from signaling ignored');
        const reply = keptRevocations.handle(parsed);
        if (reply && child.connected) child.send(reply);
        return;
      }
      if (!isRelayIpcMessage(m) || s !== relay) return;
      if (m.type === 'relay-ready') {
        replayRevocations();
        // TURN_PORT is fixed (3478 by default), so a restarted relay comes back on the same port.
        const first = relayAddress === null;
        relayAddress = m.address;
        if (first) start(signaling);
      } else {
        lastStats = m;
        if (signaling.child?.connected) signaling.child.send(m);
      }
    });
    child.on('exit', (code, signal) => {
      s.child = null;
      if (stopping) {
        if (s === signaling && exitCode !== EXIT_CONFIG) exitCode = code ?? 1;
        if (code !== 0) options.log(`supervisor: ${s.name} stopped with ${signal ?? `code ${code}`}`);
        return finishIfDone();
      }
      if (code === EXIT_CONFIG) {
        options.log(`supervisor: ${s.name} refused its configuration; stopping`);
        stopping = true;
        exitCode = EXIT_CONFIG;
        for (const c of children) c.child?.kill('SIGTERM');
        return finishIfDone();
      }
      s.delayMs = Date.now() - s.startedAt > STABLE_MS ? RESTART_BASE_MS : s.delayMs;
      options.log(
        `supervisor: ${s.name} exited (${signal ?? `code ${code}`}); restarting in ${s.delayMs} ms`,
      );
      setTimeout(() => !stopping && start(s), s.delayMs);
      s.delayMs = Math.min(s.delayMs * 2, RESTART_MAX_MS);
    });
    if (s === signaling) {
      // A fresh signaling process learns the relay's current figures at once.
      child.once('spawn', () => {
        if (lastStats && child.connected) child.send(lastStats);
      });
    }
  };

  let exitCode = 0;
  const finishIfDone = () => {
    if (children.every((c) => c.child === null)) process.exit(exitCode);
    // Signaling drained and exited: now the relay.
    if (signaling.child === null) relay.child?.kill('SIGTERM');
  };

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.log(`supervisor: second signal (${signal}); killing the children`);
      for (const c of children) c.child?.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    if (signaling.child) signaling.child.kill(signal);
    else finishIfDone();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  start(relay);
}
