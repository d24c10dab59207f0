/**
 * The PeerJS bench target against the real server process: it starts, relays one candidate between two
 * clients in PeerJS's own format, and stops, so the reference cannot rot silently. No speed is asserted.
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { startPeerjsTarget } from './peerjs-target.js';

const defer = closeAfterEach();

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

describe('PeerJS server bench target', () => {
  it('starts, relays one CANDIDATE from one id to another with src added, and stops', async () => {
    const target = await startPeerjsTarget();
    let stopped = false;
    defer(target, (t) => (stopped ? undefined : t.stop()));
    const a = defer(await target.connect('alice', 'unused'), (c) => c.ws.terminate());
    const b = defer(await target.connect('bob', 'unused'), (c) => c.ws.terminate());
    const got = new Promise<Record<string, unknown>>((resolve) =>
      b.ws.once('message', (d: Buffer) => resolve(JSON.parse(d.toString('utf8')) as Record<string, unknown>)),
    );
    a.signal('bob', 'candidate:1 1 udp 1 127.0.0.1 9 typ host');
    expect(await got).toMatchObject({
      type: 'CANDIDATE',
      src: 'alice',
      dst: 'bob',
      payload: { candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' } },
    });
    expect(target.rssBytes()).toBeGreaterThan(0);
    await target.stop();
    stopped = true;
    expect(await portRefuses(target.port)).toBe(true);
  });
});
