/**
 * The one adapter between the Redis bus and node-redis: a single Redis (one command connection, one
 * subscriber connection) or a Redis Cluster (node-redis's cluster client: commands go to the primary of
 * their key's slot, sharded subscriptions to the primary of their channel's slot, and both follow a
 * failover when the cluster promotes a replica). The bus sees the same narrow surface either way, so the
 * same code serves both; only listing keys (`scan`) differs, and walks every primary in a cluster.
 *
 * Scripts go by EVALSHA and are loaded (EVAL) the first time a primary answers NOSCRIPT, which also covers a
 * replica promoted after a failover: Redis does not replicate its script cache.
 */
import { createHash } from 'node:crypto';
import { createClient, createCluster } from 'redis';
import type { Logger } from 'pino';

/** The commands the bus uses, with the replies it relies on (node-redis's RESP2 defaults). */
export interface BusCommands {
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  hGet(key: string, field: string): Promise<string | null>;
  hGetAll(key: string): Promise<Record<string, string>>;
  hExists(key: string, field: string): Promise<number>;
  hSet(key: string, field: string, value: string): Promise<number>;
  hDel(key: string, field: string): Promise<number>;
  set(key: string, value: string, options?: { PX?: number; KEEPTTL?: true }): Promise<string | null>;
  getDel(key: string): Promise<string | null>;
  pExpire(key: string, ms: number): Promise<number>;
  del(key: string): Promise<number>;
  exists(key: string): Promise<number>;
  sPublish(channel: string, message: string): Promise<number>;
}

/** A script with its SHA-1, as EVALSHA names it. */
export interface Script {
  text: string;
  sha: string;
}

export function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

export interface BusRedis {
  readonly commands: BusCommands;
  /** Run a script by its hash, loading it on a primary that does not know it yet. */
  run(s: Script, keys: string[], args: string[]): Promise<unknown>;
  connect(): Promise<void>;
  isReady(): boolean;
  /**
   * Called each time a connection becomes ready again after it was lost: after a restart or a failover,
   * Redis may have lost writes, and frames published while a shard channel moved went to mailboxes.
   */
  onReady(handler: () => void): void;
  sSubscribe(channel: string, listener: (message: string, channel: string) => void): Promise<void>;
  sUnsubscribe(channel: string): Promise<void>;
  /** Every key matching `pattern`, on every primary, in batches. */
  scan(pattern: string): AsyncIterable<string[]>;
  close(): Promise<void>;
}

export type RedisTarget = { url: string } | { clusterNodes: string[] };

// Fail fast while a primary is away (no offline queue): callers get an error now, not a hang.
const socket = {
  reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
  connectTimeout: 2000,
};

async function runScript(commands: BusCommands, s: Script, keys: string[], args: string[]) {
  try {
    return await commands.evalSha(s.sha, { keys, arguments: args });
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return commands.eval(s.text, { keys, arguments: args });
  }
}

/** A `host:port` or `redis[s]://…` entry of REDIS_CLUSTER_NODES as a node-redis URL. */
export function clusterNodeUrl(entry: string): string {
  return entry.includes('://') ? entry : `redis://${entry}`;
}

export function connectBusRedis(target: RedisTarget, log: Logger): BusRedis {
  return 'url' in target ? standalone(target.url, log) : cluster(target.clusterNodes, log);
}

function standalone(url: string, log: Logger): BusRedis {
  const client = createClient({ url, disableOfflineQueue: true, socket });
  const subscriber = client.duplicate();
  for (const c of [client, subscriber])
    c.on('error', (err: Error) => log.warn({ err: err.message }, 'redis error'));
  const commands = client as unknown as BusCommands;
  return {
    commands,
    run: (s, keys, args) => runScript(commands, s, keys, args),
    connect: async () => {
      await Promise.all([client.connect(), subscriber.connect()]);
    },
    isReady: () => client.isReady && subscriber.isReady,
    onReady: (handler) => {
      let first = true;
      client.on('ready', () => {
        if (first) first = false;
        else handler();
      });
    },
    sSubscribe: (channel, listener) => subscriber.sSubscribe(channel, listener),
    sUnsubscribe: (channel) => subscriber.sUnsubscribe(channel),
    async *scan(pattern) {
      yield* client.scanIterator({ MATCH: pattern, COUNT: 500 });
    },
    close: async () => {
      await Promise.allSettled([subscriber.close(), client.close()]);
    },
  };
}

function cluster(nodes: string[], log: Logger): BusRedis {
  const c = createCluster({
    rootNodes: nodes.map((n) => ({ url: clusterNodeUrl(n) })),
    defaults: { disableOfflineQueue: true, socket },
    // A primary that keeps failing to reconnect may have been replaced: ask the cluster again after half a
    // second of retries instead of node-redis's default five, so a failover is followed within a second
    // or two of the cluster's own promotion.
    topologyRefreshOnReconnectionAttemptStrategy: 500,
  });
  c.on('error', (err: Error) => log.warn({ err: err.message }, 'redis cluster error'));
  c.on('node-error', (err: Error, node: { host?: string; port?: number }) =>
    log.warn({ err: err.message, node: `${node?.host}:${node?.port}` }, 'redis cluster node error'),
  );
  c.on('sharded-channel-moved-error', (err: Error, channel: string) =>
    log.warn({ err: err.message, channel }, 'redis cluster: could not follow a moved shard channel'),
  );
  const commands = c as unknown as BusCommands;
  return {
    commands,
    run: (s, keys, args) => runScript(commands, s, keys, args),
    connect: async () => {
      await c.connect();
    },
    isReady: () => c.isReady,
    // Every new node client (a shard's subscriber included) reports ready; only one after a lost
    // connection means something may have been lost.
    onReady: (handler) => {
      let troubled = false;
      c.on('node-reconnecting', () => (troubled = true));
      c.on('node-ready', () => {
        if (!troubled) return;
        troubled = false;
        handler();
      });
    },
    sSubscribe: (channel, listener) => c.sSubscribe(channel, listener),
    sUnsubscribe: (channel) => c.sUnsubscribe(channel),
    async *scan(pattern) {
      for (const primary of c.masters) {
        const client = await c.nodeClient(primary);
        yield* client.scanIterator({ MATCH: pattern, COUNT: 500 });
      }
    },
    close: async () => {
      await c.close().catch(() => c.destroy());
    },
  };
}
