/**
 * Relay-control over IPC through the real process tree of `npm start`: the real supervisor, the real
 * bundled relay child, and a stand-in signaling child (test-support/relay-control-harness.ts) that revokes
 * a user and announces a room's addresses with ipcRelayControl() once the relay reports an allocation.
 * The allocation is torn down, the old credential refused and a later one accepted; room scope is on in
 * the relay child by default and follows the announcement; a malformed command is dropped on the way; and
 * a relay child that crashes and restarts is told the revocation again by the supervisor.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../test-support/cleanup.js';
import { freeUdpPort, startScript, type Proc } from '../test-support/processes.js';
import { TurnClient, until } from '../test-support/turn-client.js';
import { mintTurnCredential } from '../turn/credentials/rest-credentials.js';

const defer = closeAfterEach();
const SECRET = 'supervisor-control-secret';
const mint = (userId: string, ttlSeconds: number) =>
  mintTurnCredential({ secret: SECRET, userId, ttlSeconds });

async function allocateCode(port: number, cred: { username: string; credential: string }) {
  const c = defer(
    await TurnClient.connect({ host: '127.0.0.1', port }, cred.username, cred.credential),
    (x) => x.close(),
  );
  return { client: c, code: (await c.allocate()).code };
}

describe('relay-control through the supervisor', () => {
  it('revokes a user and announces room addresses from the signaling child, and revokes again after a relay restart', async () => {
    const port = await freeUdpPort();
    const old = mint('mallory', 600);
    const proc: Proc = startScript('test-support/relay-control-harness.ts', [], {
      TURN_SECRETS: SECRET,
      TURN_PORT: String(port),
      TURN_HOST: '127.0.0.1',
      TURN_TLS_PORT: 'off',
      TURN_ALLOWED_PEER_IPS: '127.0.0.0/8',
      TURN_MIN_PORT: '36000',
      TURN_MAX_PORT: '36499',
      HARNESS_REVOKE_USER: 'mallory',
      HARNESS_REVOKE_BY: String(old.expiresAt),
      HARNESS_ROOM: 'room-a',
      HARNESS_ANNOUNCE: '127.0.0.5',
      TURN_ROOM_SCOPE_WAIT_MS: '200',
    });
    defer(proc, async (p) => {
      p.kill('SIGTERM');
      await p.exited;
    });
    await proc.waitFor(/harness: signaling ready/);

    const first = await allocateCode(port, old);
    expect(first.code).toBe(0);
    // The stand-in signaling revokes once it sees the allocation in the relay's figures.
    await proc.waitFor(/harness: revoke sent/);
    expect(await until(async () => (await first.client.refresh()).code === 401, 5000)).toBe(true);
    expect(proc.output()).toContain('malformed relay-control message from signaling ignored');

    expect((await allocateCode(port, old)).code).toBe(401);
    expect((await allocateCode(port, mint('mallory', 1200))).code).toBe(0);

    // Room scope is on in the relay child by default, and follows what signaling announced.
    const scoped = mintTurnCredential({ secret: SECRET, userId: 'bob', ttlSeconds: 600, room: 'room-a' });
    const bob = await allocateCode(port, scoped);
    expect(bob.code).toBe(0);
    expect((await bob.client.createPermission({ address: '127.0.0.5', port: 9 })).code).toBe(0);
    expect((await bob.client.createPermission({ address: '127.0.0.6', port: 9 })).code).toBe(403);

    // A relay child that dies comes back knowing the revocation.
    const pid = Number(/relay running \(pid (\d+)\)/.exec(proc.output())?.[1]);
    process.kill(pid, 'SIGKILL');
    await proc.waitFor(/relay exited[\s\S]*relay running/);
    const refusedAfterRestart = await until(async () => {
      const c = await TurnClient.connect({ host: '127.0.0.1', port }, old.username, old.credential);
      try {
        return (await c.allocate()).code === 401;
      } catch {
        return false; // not listening yet
      } finally {
        await c.close();
      }
    }, 10_000);
    expect(refusedAfterRestart).toBe(true);
    expect((await allocateCode(port, mint('mallory', 1200))).code).toBe(0);
  }, 40_000);
});
