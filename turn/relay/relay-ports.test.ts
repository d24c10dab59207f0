import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { RelayPorts } from './relay-ports.js';

const HOST = '127.0.0.1';
const options = {
  minPort: 46000,
  maxPort: 46099,
  reservationMs: 30_000,
  bindAttempts: 64,
};

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('RelayPorts', () => {
  it('binds an even port and reserves the next one for its user', async () => {
    const ports = new RelayPorts({ ...options, now: Date.now });
    const taken = await ports.take(HOST, true, true, 'alice');
    const port = taken!.socket.address().port;
    expect(port % 2).toBe(0);
    expect(ports.reservedBy('alice')).toBe(1);
    const claimed = ports.claim(taken!.token!);
    expect(claimed?.address().port).toBe(port + 1);
    expect(ports.claim(taken!.token!)).toBeNull();
    expect(ports.reservedBy('alice')).toBe(0);
    taken!.socket.close();
    claimed!.close();
    await ports.close();
  });

  it('gives back a port whose bind completes after close(), so nothing stays open', async () => {
    const ports = new RelayPorts({ ...options, now: Date.now });
    const inFlight = ports.take(HOST, false, true, 'alice');
    await ports.close();
    expect(await inFlight).toBeNull();
    expect(ports.reserved).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    for (let p = options.minPort; p <= options.maxPort; p++) expect(await bindable(p)).toBe(true);
  });

  it('answers null when every port in the range is taken', async () => {
    const ports = new RelayPorts({ ...options, minPort: 46100, maxPort: 46100, now: Date.now });
    const first = await ports.take(HOST, false, false, 'a');
    expect(first).not.toBeNull();
    expect(await ports.take(HOST, false, false, 'a')).toBeNull();
    first!.socket.close();
    await ports.close();
  });
});
