/**
 * Run inside a network namespace the test made (ip netns exec): starts the bundled relay as it ships
 * (every local address) and, for comparison, one plain UDP socket on 0.0.0.0 as the relay had before;
 * then, from a client socket on each local address, contacts each other address. Prints one JSON line:
 * for every (client, contacted) pair, the address each server answered from and, for the relay, the
 * relayed address of an Allocate made that way.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mintTurnCredential } from '../turn/credentials/rest-credentials.js';
import { Method, StunClass, StunWriter, randomTransactionId } from '../turn/stun/message.js';
import { TurnServer } from '../turn/relay/turn-server.js';
import { WorkerRelay } from '../turn/relay/relay-workers.js';
import { TurnClient, udpSocket } from './turn-client.js';
import { testRelayOptions } from './relay-options.js';

const SECRET = 'multi-address-probe';
const addresses = (process.argv[2] ?? '').split(',').filter(Boolean);
/** Relay worker threads and how they share the port (argv 3, 4): 1 by default, as the relay ran before. */
const workers = Number(process.argv[3] ?? 1);
const workerMode = process.argv[4] === 'handoff' ? 'handoff' : 'auto';

/** Send a Binding request from a socket on `from` to `to:port`; the address the answer came from. */
async function answeredFrom(from: string, to: string, port: number): Promise<string | null> {
  const socket: Socket = await udpSocket(from);
  try {
    return await new Promise<string | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), 2000);
      socket.once('message', (_m, rinfo) => {
        clearTimeout(timer);
        resolve(rinfo.address);
      });
      socket.send(new StunWriter(Method.binding, StunClass.request, randomTransactionId()).build(), port, to);
    });
  } finally {
    socket.close();
  }
}

/** The old layout: one socket on 0.0.0.0 that answers every datagram with a copy. */
function wildcardEcho(): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.on('message', (m, rinfo) => s.send(m, rinfo.port, rinfo.address));
    s.bind(0, '0.0.0.0', () => resolve(s));
  });
}

async function main(): Promise<void> {
  const options = testRelayOptions({
    realm: 'probe',
    secrets: [SECRET],
    minPort: 40000,
    maxPort: 40999,
    allowedPeers: [],
  });
  const relay =
    workers > 1
      ? await WorkerRelay.start({ ...options, workers, workerMode })
      : await TurnServer.start(options);
  const echo = await wildcardEcho();
  const results = [];
  for (const from of addresses)
    for (const to of addresses) {
      if (from === to) continue;
      const cred = mintTurnCredential({ secret: SECRET, userId: 'probe', ttlSeconds: 600 });
      const client = await TurnClient.connect(
        { host: to, port: relay.address.port },
        cred.username,
        cred.credential,
        from,
      );
      const allocate = await client.allocate().catch(() => null);
      await client.close();
      results.push({
        from,
        to,
        relay: await answeredFrom(from, to, relay.address.port),
        relayed: allocate?.code === 0 ? (client.relayed?.address ?? null) : `error ${allocate?.code}`,
        wildcard: await answeredFrom(from, to, echo.address().port),
      });
    }
  echo.close();
  await relay.close();
  process.stdout.write(`${JSON.stringify({ listening: relay.address.addresses, results })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
