/**
 * `npm start`'s process tree with signaling replaced by a script, to test the relay-control path through
 * the real supervisor and the real bundled relay process. Without `--role` it runs the supervisor with
 * this file as both children's entry; `--role=relay` runs the bundled relay exactly as main.ts does;
 * `--role=signaling` stands in for signaling: once the relay reports an allocation it sends one malformed
 * command (which every hop must drop), then revokes HARNESS_REVOKE_USER until HARNESS_REVOKE_BY and
 * announces HARNESS_ANNOUNCE (comma-separated addresses) for HARNESS_ROOM through {@link ipcRelayControl},
 * as signaling's admin API and candidate feed do.
 */
import { fileURLToPath } from 'node:url';
import { isRelayIpcMessage, runBundledRelay } from '../signaling/bundled-relay-process.js';
import { runSupervisor } from '../signaling/supervisor.js';
import { loadTurnConfig } from '../turn/config.js';
import { ipcRelayControl } from '../turn/relay/relay-control.js';

const role = process.argv.find((a) => a.startsWith('--role='))?.slice('--role='.length);

if (role === 'relay') {
  await runBundledRelay(loadTurnConfig(process.env), 'warn');
} else if (role === 'signaling') {
  const control = ipcRelayControl();
  let sent = false;
  process.on('message', (m: unknown) => {
    if (sent || !isRelayIpcMessage(m) || m.type !== 'relay-stats' || m.stats.allocations === 0) return;
    sent = true;
    process.send?.({ type: 'relay-control', op: 'revoke-user', userId: 'x:y', credentialsExpiringBy: -1 });
    control.revokeUser(process.env.HARNESS_REVOKE_USER ?? '', Number(process.env.HARNESS_REVOKE_BY));
    control.announceRoomAddresses(
      process.env.HARNESS_ROOM ?? '',
      (process.env.HARNESS_ANNOUNCE ?? '').split(','),
    );
    process.stderr.write('harness: revoke sent\n');
  });
  process.stderr.write('harness: signaling ready\n');
} else {
  runSupervisor({
    env: process.env,
    signalingArgs: [],
    entry: fileURLToPath(import.meta.url),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}
