/**
 * The PeerJS server (npm `peer`, the signaling server most mesh apps use) as a bench target, as its own
 * `peerjs` command would run it: express + ws, clients named by ?id=&token=&key=, OFFER/ANSWER/CANDIDATE
 * forwarded to `dst` with `src` added. Only its concurrent-client cap (default 5 000) is raised, so the
 * idle-connection figure measures memory rather than the cap, as ours runs with its limits raised.
 */
import type { AddressInfo } from 'node:net';
import { PeerServer } from 'peer';

PeerServer({ host: '127.0.0.1', port: 0, concurrent_limit: 100_000 }, (server) => {
  process.stdout.write(`READY ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
