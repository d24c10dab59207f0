/** TURN credentials are refreshed before they expire and applied to live links with setConfiguration. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSignaling, type RunningSignaling } from '../test-support/signaling.js';
import { joinRoom, p2pTo, type TestRoom, useGenerousPolls } from '../test-support/sdk-rooms.js';
import { systemClock, type Clock } from './clock.js';
import { DEFAULTS } from './defaults.js';
import type { Link } from './peer/link.js';
import { createSimplePeerLink } from './peer/simple-peer-adapter.js';
import { nodePlatform } from './platform/node.js';
import type { RoomEvents } from './room.js';

useGenerousPolls();
let sig: RunningSignaling | undefined;
const rooms: TestRoom[] = [];
afterEach(async () => {
  await Promise.all(rooms.splice(0).map((r) => r.room.close()));
  await sig?.close();
  sig = undefined;
});

describe('TURN credential refresh', () => {
  it('asks for fresh credentials before expiry and applies them to live links without dropping them', async () => {
    // 60 s credentials (the server minimum) and a client clock 58 s ahead: the refresh is due in ~1 s.
    sig = await startSignaling({
      TURN_SERVERS: 'turn:127.0.0.1:9?transport=udp',
      TURN_CREDENTIAL_TTL_S: '60',
    });
    const clock: Clock = { ...systemClock, now: () => Date.now() + 58_000 };
    const applied: RTCConfiguration[] = [];
    const platform = nodePlatform();
    const linkFactory = (initiator: boolean, config: RTCConfiguration): Link => {
      const link = createSimplePeerLink(
        { initiator, config, streams: [], unreliableChannelId: DEFAULTS.unreliableChannelId },
        platform.wrtc,
      );
      const set = link.setConfiguration.bind(link);
      link.setConfiguration = (c) => {
        applied.push(c);
        set(c);
      };
      return link;
    };
    const a = await joinRoom(sig, 'alice', 'turn', { clock, linkFactory });
    const b = await joinRoom(sig, 'bob', 'turn');
    rooms.push(a, b);
    await p2pTo(a.room, b.room.peerId);
    const firstUser = (a.room as unknown as { iceServers: Array<{ username?: string }> }).iceServers[0]
      ?.username;
    expect(firstUser).toMatch(/^\d+:alice$/);

    const refreshed: RoomEvents['ice-servers'] = await a.room.next('ice-servers');
    const user = refreshed.iceServers[0]?.username ?? '';
    expect(Number(user.split(':')[0])).toBeGreaterThan(Number(firstUser!.split(':')[0]));
    await expect.poll(() => applied.some((c) => c.iceServers?.[0]?.username === user)).toBe(true);

    // The link was reconfigured in place: still up, still carrying data.
    expect(a.room.peer(b.room.peerId)?.path).toBe('direct');
    a.room.send('after refresh', { to: b.room.peerId });
    await expect.poll(() => b.reliableFrom(a.room.peerId)).toEqual(['after refresh']);
    expect(a.errors).toEqual([]);
  }, 60_000);
});
