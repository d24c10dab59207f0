/**
 * The cross-instance reference: one socket.io server with the Redis adapter, as its documentation sets up
 * a horizontally scaled app (one `redis` client to publish, a duplicate to subscribe). Clients connect over
 * WebSocket only; a `signal` event `{to, signal}` is sent on to the socket id `to` with `from` added
 * (`io.to(id).emit`: every socket is in a room named by its id, and the adapter carries the emit to the
 * instance that holds it). No auth, no validation: what a small app writes, the floor beside ours.
 * Arguments: the Redis URL and the adapter's channel prefix.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

const [, , url = 'redis://127.0.0.1:6379', key = 'socket.io'] = process.argv;
const pub = createClient({ url });
const sub = pub.duplicate();
pub.on('error', (err: unknown) => process.stderr.write(`redis: ${String(err)}\n`));
sub.on('error', (err: unknown) => process.stderr.write(`redis: ${String(err)}\n`));
await Promise.all([pub.connect(), sub.connect()]);

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  adapter: createAdapter(pub, sub, { key }),
});
io.on('connection', (socket) => {
  socket.on('signal', (msg: { to: string; signal: unknown }) => {
    io.to(msg.to).emit('signal', { from: socket.id, signal: msg.signal });
  });
});
http.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY ${(http.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  void io
    .close()
    .then(() => Promise.allSettled([pub.close(), sub.close()]))
    .finally(() => process.exit(0));
});
