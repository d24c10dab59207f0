/**
 * The PeerJS server (npm `peer`) as a signaling bench target, beside ours and the bare `ws` relay: the same
 * loads in its own message format. A client connects as the PeerJS client does (`/peerjs?key=&id=&token=`,
 * ready on the server's OPEN) and sends each candidate as PeerJS does: `{type: 'CANDIDATE', payload:
 * {candidate, type, connectionId}, dst}`, which the server forwards with `src` added. PeerJS has no rooms,
 * so the room argument is unused: its clients address each other by id, as ours do within a room.
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { boot, opened, rssOf, type Target } from './targets.js';

/** The version pinned in package.json, named in every row it appears in. */
export const PEERJS_REFERENCE_NAME = 'PeerJS server 1.0.2';

/** The key PeerJS servers and clients use unless configured otherwise. */
const KEY = 'peerjs';

export async function startPeerjsTarget(): Promise<Target> {
  const { proc, port } = await boot('bench/servers/peerjs-server.ts', []);
  const pid = proc.child.pid!;
  return {
    name: 'peerjs',
    port,
    pid,
    rssBytes: () => rssOf(pid),
    async stop() {
      proc.kill('SIGTERM');
      await proc.exited;
    },
    prepare: () => undefined,
    async connect(user) {
      // The PeerJS client makes its token the same way: a random string per peer object.
      const token = randomUUID().slice(0, 13);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/peerjs?key=${KEY}&id=${user}&token=${token}`, {
        perMessageDeflate: false,
      });
      const open = new Promise<void>((resolve, reject) =>
        ws.once('message', (d: Buffer) => {
          const msg = JSON.parse(d.toString('utf8')) as { type: string; payload?: { msg?: string } };
          if (msg.type === 'OPEN') resolve();
          else reject(new Error(`PeerJS server answered ${msg.type}: ${msg.payload?.msg ?? ''}`));
        }),
      );
      await opened(ws);
      await open;
      const connectionId = `dc_${user}`;
      return {
        id: user,
        ws,
        signal: (to, candidate) =>
          ws.send(
            JSON.stringify({
              type: 'CANDIDATE',
              payload: {
                candidate: { candidate, sdpMid: '0', sdpMLineIndex: 0 },
                type: 'data',
                connectionId,
              },
              dst: to,
            }),
          ),
      };
    },
  };
}
