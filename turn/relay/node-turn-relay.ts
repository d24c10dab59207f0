/**
 * The only file that imports `node-turn` (0.0.6, pinned). It runs node-turn's message handling with our
 * TURN REST API credential check and our socket lifecycle. Known unsafe parts of node-turn as shipped
 * (see the TURN issue) are handled here; what is not yet handled is listed in `KNOWN_GAPS`.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { parseTurnUsername, turnPassword } from '../credentials/rest-credentials.js';
import type { Relay, RelayAddress } from './relay.js';

const require = createRequire(import.meta.url);

/** What this adapter does not fix yet; the hardened relay replaces it. */
export const KNOWN_GAPS = [
  'relays to any peer address (no peer policy)',
  'no quotas; relay ports of expired allocations are not closed',
  'Refresh deletes the allocation; ChannelBind responses carry no MESSAGE-INTEGRITY',
  'unknown attributes (EVEN-PORT) drop the request',
] as const;

interface NodeTurnSocket {
  removeAllListeners(event?: string): void;
  close(cb?: () => void): void;
}
interface NodeTurnAllocation {
  timer: NodeJS.Timeout;
  sockets: NodeTurnSocket[];
}
interface NodeTurnServer {
  allocations: Record<string, NodeTurnAllocation>;
  authentification: { credentials: Record<string, string>; nonces: Record<string, unknown> };
  network: { sockets: NodeTurnSocket[] };
  start(): void;
}
type NodeTurnCtor = new (config: Record<string, unknown>) => NodeTurnServer;

export interface NodeTurnRelayOptions {
  host: string;
  /** node-turn cannot bind port 0: give a real port. */
  port: number;
  realm: string;
  secrets: readonly string[];
  externalIp?: string | undefined;
  minPort: number;
  maxPort: number;
  maxLifetimeSec: number;
  logger?: Logger | undefined;
  now?: () => number;
}

/**
 * Long-term credentials are looked up by username; node-turn keeps them in a plain object, so
 * `__proto__`, `constructor` and the like would resolve. This view answers only REST usernames that are
 * well formed and unexpired, with the password of the signing secret, and nothing else.
 */
function restCredentialView(secrets: readonly string[], now: () => number): Record<string, string> {
  return new Proxy(Object.create(null) as Record<string, string>, {
    get(_target, username) {
      if (typeof username !== 'string') return undefined;
      const parsed = parseTurnUsername(username);
      const secret = secrets[0];
      if (!parsed || !secret || parsed.expiresAt * 1000 <= now()) return undefined;
      return turnPassword(secret, username);
    },
    has: () => false,
    set: () => false,
  });
}

export async function startNodeTurnRelay(options: NodeTurnRelayOptions): Promise<Relay> {
  const NodeTurn = require('node-turn') as NodeTurnCtor;
  const log = options.logger;
  const server = new NodeTurn({
    listeningIps: [options.host],
    listeningPort: options.port,
    relayIps: [options.host === '0.0.0.0' ? '0.0.0.0' : options.host],
    externalIps: options.externalIp ?? null,
    minPort: options.minPort,
    maxPort: options.maxPort,
    maxAllocateLifetime: options.maxLifetimeSec,
    authMech: 'long-term',
    realm: options.realm,
    debugLevel: 'OFF',
    log: (m: unknown) => log?.debug({ relay: String(m) }, 'node-turn'),
  });
  server.authentification.credentials = restCredentialView(options.secrets, options.now ?? Date.now);
  // Nonces in a prototype-free map, so the nonce `__proto__` is not "known".
  server.authentification.nonces = Object.create(null) as Record<string, unknown>;
  server.start();
  await new Promise((r) => setTimeout(r, 20)); // node-turn binds without telling; the bind is synchronous in practice
  const address: RelayAddress = { host: options.host, port: options.port };
  let closed: Promise<void> | null = null;
  return {
    address,
    close() {
      closed ??= (async () => {
        // Stop every relayed packet first: node-turn sends on the listening socket from allocation
        // handlers, which throws once that socket is closed.
        const sockets: NodeTurnSocket[] = [];
        for (const allocation of Object.values(server.allocations)) {
          clearTimeout(allocation.timer);
          for (const s of allocation.sockets) {
            s.removeAllListeners('message');
            sockets.push(s);
          }
        }
        for (const s of server.network.sockets) {
          s.removeAllListeners('message');
          sockets.push(s);
        }
        await Promise.all(
          sockets.map(
            (s) =>
              new Promise<void>((resolve) => {
                try {
                  s.close(() => resolve());
                } catch {
                  resolve();
                }
              }),
          ),
        );
      })();
      return closed;
    },
  };
}
