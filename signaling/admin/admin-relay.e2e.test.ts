/**
 * The admin API reaching the bundled relay: a user's revocation, made through signaling's admin port,
 * tears down the allocations their welcome's credentials made on the relay within a second, and those
 * credentials are refused from then on; another user's allocation is untouched.
 */
import { describe, expect, it } from 'vitest';
import { closeAfterEach } from '../../test-support/cleanup.js';
import { testRelayOptions } from '../../test-support/relay-options.js';
import { startSignaling, TEST_TURN_SECRET } from '../../test-support/signaling.js';
import { TurnClient, until } from '../../test-support/turn-client.js';
import { TestClient } from '../../test-support/ws-client.js';
import { inProcessRelayControl } from '../../turn/relay/relay-control.js';
import { TurnServer } from '../../turn/relay/turn-server.js';
import { ERROR_CODES } from '../protocol/index.js';

const defer = closeAfterEach();

describe('revoking a user through the admin API', () => {
  it('drops their relay allocations within a second and refuses the credentials they were handed', async () => {
    const relay = defer(
      await TurnServer.start(
        testRelayOptions({
          realm: 'admin.test',
          secrets: [TEST_TURN_SECRET],
          minPort: 38000,
          maxPort: 38999,
          hosts: ['127.0.0.1'],
        }),
      ),
      (r) => r.close(),
    );
    const sig = defer(
      await startSignaling(
        { ADMIN_PORT: '0' },
        { embeddedRelay: relay.address, relayControl: inProcessRelayControl(relay) },
      ),
      (s) => s.close(),
    );
    const join = async (user: string) => {
      const c = defer(await TestClient.connect(sig.wsUrl, { token: sig.token(user, ['r']) }), (x) =>
        x.close(),
      );
      const welcome = await c.join('r');
      const turn = welcome.iceServers.find((s) => s.username !== undefined)!;
      const t = defer(
        await TurnClient.connect(
          { host: '127.0.0.1', port: relay.address.port },
          turn.username!,
          turn.credential!,
        ),
        (x) => x.close(),
      );
      expect((await t.allocate()).code).toBe(0);
      return { c, t, turn };
    };
    const mallory = await join('mallory');
    const alice = await join('alice');
    expect(relay.stats().allocations).toBe(2);

    const admin = sig.token('ops', [], { claims: { admin: true } });
    const res = await fetch(`${sig.adminUrl!}/admin/v1/users/mallory/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(200);
    expect((await mallory.c.closed).code).toBe(ERROR_CODES.revoked.close);
    expect(await until(() => relay.stats().allocations === 1, 1000)).toBe(true);
    // Her credentials are dead; alice's allocation still refreshes.
    const again = defer(
      await TurnClient.connect(
        { host: '127.0.0.1', port: relay.address.port },
        mallory.turn.username!,
        mallory.turn.credential!,
      ),
      (x) => x.close(),
    );
    expect((await again.allocate()).code).toBe(401);
    expect((await alice.t.refresh(600)).code).toBe(0);
  });
});
