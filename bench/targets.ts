/**
 * The servers every signaling figure is taken on, in child processes of their own: ours, the bare `ws`
 * relay and the PeerJS server (`bench/peerjs-target.ts`). A client abstraction hides the difference
 * (token + join vs ?id= vs PeerJS's id, token and key).
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { mintDevToken } from '../signaling/auth/token-verifier.js';
import { ROOT, startNode, startScript, type Proc } from '../test-support/processes.js';

const JWT_SECRET = 'bench-secret-bench-secret-bench-secret-0000';

export interface BenchClient {
  id: string;
  ws: WebSocket;
  /** Send a candidate-shaped signal to `to`. */
  signal(to: string, candidate: string): void;
}

export interface Target {
  name: 'ours' | 'bare-ws' | 'peerjs';
  port: number;
  pid: number;
  connect(user: string, room: string): Promise<BenchClient>;
  /** Do the client-side work of a later connect now (ours: mint the token), so timing sees the server. */
  prepare(user: string, room: string): void;
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function boot(
  script: string,
  args: string[],
  nodeArgs: string[] = [],
  root: string = ROOT,
): Promise<{ proc: Proc; port: number }> {
  const env = { NODE_ENV: 'production' };
  const proc =
    nodeArgs.length > 0 || root !== ROOT
      ? startNode(root, [...nodeArgs, '--import', 'tsx', script, ...args], env)
      : startScript(script, args, env);
  const m = await proc.waitFor(/READY (\d+)/, 30_000);
  return { proc, port: Number(m[1]) };
}

export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

export function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

/**
 * Start ours or the bare relay. `serverArgs` go to ours after the JWT secret (bench/servers/signaling-server.ts:
 * a Redis URL, a node id and a key prefix, to run it as one instance of a cluster). `nodeArgs`: flags for the
 * server's node (e.g. `--cpu-prof`), for profiling it under the same load; `root`: another checkout of this
 * repository whose server to start (a before/after comparison).
 */
export async function startTarget(
  name: 'ours' | 'bare-ws',
  serverArgs: string[] = [],
  nodeArgs: string[] = [],
  root: string = ROOT,
): Promise<Target> {
  const { proc, port } = await boot(
    name === 'ours' ? 'bench/servers/signaling-server.ts' : 'bench/servers/bare-ws-relay.ts',
    name === 'ours' ? [JWT_SECRET, ...serverArgs] : [],
    nodeArgs,
    root,
  );
  const pid = proc.child.pid!;
  const stop = async () => {
    proc.kill('SIGTERM');
    await proc.exited;
  };
  const tokens = new Map<string, string>();
  const mint = (user: string, room: string) =>
    mintDevToken({
      secret: JWT_SECRET,
      userId: user,
      rooms: [room],
      audience: 'relay-platform',
      issuer: 'relay-platform',
      ttlSec: 3600,
    });
  if (name === 'bare-ws') {
    return {
      name,
      port,
      pid,
      rssBytes: () => rssOf(pid),
      stop,
      prepare: () => undefined,
      async connect(user) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?id=${user}`, { perMessageDeflate: false });
        await opened(ws);
        return {
          id: user,
          ws,
          signal: (to, candidate) =>
            ws.send(
              JSON.stringify({
                to,
                signal: { type: 'candidate', candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } },
              }),
            ),
        };
      },
    };
  }
  return {
    name,
    port,
    pid,
    rssBytes: () => rssOf(pid),
    stop,
    prepare(user, room) {
      tokens.set(`${user}|${room}`, mint(user, room));
    },
    async connect(user, room) {
      const token = tokens.get(`${user}|${room}`) ?? mint(user, room);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/ws?token=${token}`, ['relay.v1'], {
        perMessageDeflate: false,
      });
      await opened(ws);
      const welcome = new Promise<string>((resolve) =>
        ws.once('message', (d: Buffer) =>
          resolve((JSON.parse(d.toString('utf8')) as { peerId: string }).peerId),
        ),
      );
      ws.send(JSON.stringify({ type: 'join', room }));
      const id = await welcome;
      return {
        id,
        ws,
        signal: (to, candidate) =>
          ws.send(
            JSON.stringify({
              type: 'signal',
              to,
              signal: { type: 'candidate', candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 } },
            }),
          ),
      };
    },
  };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
