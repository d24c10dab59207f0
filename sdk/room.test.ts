/** Room logic on a fake platform, fake links and a manual clock: membership, re-keying, timers. */
import { describe, expect, it } from 'vitest';
import { FakeClock, FakePlatform, settle, welcomeFor } from '../test-support/sdk-fakes.js';
import type { Member } from '../signaling/protocol/light/index.js';
import { connect } from './node.js';
import { TypedEmitter } from './events/typed-emitter.js';
import type { Link, LinkEvents } from './peer/link.js';
import { INSTANCE_META_KEY, type Room, type RoomEvents } from './room.js';

class StubLink extends TypedEmitter<LinkEvents> implements Link {
  connected = false;
  destroyed = false;
  remoteUfrag = null;
  remoteSession = null;
  localUfrag = null;
  constructor(readonly initiator: boolean) {
    super();
  }
  signal(): void {}
  send(): boolean {
    return this.connected;
  }
  sendUnreliable(): boolean {
    return this.connected;
  }
  sendApp(): boolean {
    return false;
  }
  addTrack(): void {}
  removeTrack(): void {}
  replaceTrack(): Promise<boolean> {
    return Promise.resolve(false);
  }
  restartIce(): void {}
  readonly configured: RTCConfiguration[] = [];
  setConfiguration(c: RTCConfiguration): void {
    this.configured.push(c);
  }
  getStats(): null {
    return null;
  }
  destroy(): void {
    this.destroyed = true;
  }
  up(): void {
    this.connected = true;
    this.emit('connect', undefined);
  }
  fail(): void {
    this.connected = false;
    this.emit('close', { error: { code: 'ERR_ICE_CONNECTION_FAILURE', message: 'failed' } });
  }
  fire<K extends keyof LinkEvents>(event: K, payload: LinkEvents[K]): void {
    this.emit(event, payload);
  }
}

const member = (peerId: string, instance: string, meta: Record<string, string> = {}): Member => ({
  peerId,
  userId: `user-${instance}`,
  meta: { ...meta, [INSTANCE_META_KEY]: instance },
});

async function open(members: Member[] = [], limits: Partial<Welcome['limits']> = {}, fallbackBurst = 80) {
  const clock = new FakeClock();
  const platform = new FakePlatform();
  const links: StubLink[] = [];
  const pending = connect({
    url: 'ws://sig/v1/ws',
    token: 't',
    room: 'r',
    platform,
    clock,
    orphanGraceMs: 5_000,
    fallbackBurst,
    reconnectPolicy: { nextDelayMs: () => 100 },
    linkFactory: ({ initiator }) => {
      const l = new StubLink(initiator);
      links.push(l);
      return l;
    },
  });
  await settle();
  platform.last.open();
  const welcome = welcomeFor('peer-mmmmmmmm', { members });
  platform.last.deliver({ ...welcome, limits: { ...welcome.limits, ...limits } });
  const room = await pending;
  const events: Array<[string, unknown]> = [];
  for (const e of ['peer-joined', 'peer-left', 'peer-rejoined', 'resumed'] as const) {
    room.on(e, (p: RoomEvents[typeof e]) => events.push([e, p]));
  }
  return { clock, platform, links, room, events };
}

async function reconnect(
  s: { clock: FakeClock; platform: FakePlatform },
  welcome: ReturnType<typeof welcomeFor>,
) {
  s.platform.last.drop();
  await s.clock.advance(100);
  s.platform.last.open();
  s.platform.last.deliver(welcome);
  await settle();
}

/** close() waits for the server's `left`; the fake server answers it. */
async function closeRoom(s: { room: Room; platform: FakePlatform }) {
  const closing = s.room.close();
  s.platform.last.deliver({ type: 'left' });
  await closing;
}

type Welcome = ReturnType<typeof welcomeFor>;

describe('Room', () => {
  it('paces WebSocket fallback data by the rate the server announced, and sizes by its maxMessageBytes', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')], { ratePerSecond: 20, maxMessageBytes: 2_048 }, 1);
    const dataFrames = () => s.platform.last.sent.filter((m) => m.type === 'data' && m.seq !== undefined);
    for (let i = 0; i < 50; i++) s.room.send(`m${i}`, { to: 'peer-zzzzzzzz' });
    await s.clock.advance(2_000);
    // Half of the announced 20/s for two seconds (+1 of burst): the other half stays for signals.
    expect(dataFrames().length).toBeGreaterThanOrEqual(20);
    expect(dataFrames().length).toBeLessThanOrEqual(22);
    expect(() => s.room.send('x'.repeat(1_600))).toThrow(
      expect.objectContaining({ code: 'payload_too_large' }),
    );
    await closeRoom(s);
  });

  it('joins with its instance id in meta, hides it from peers, and links to every member', async () => {
    const s = await open([member('peer-aaaaaaaa', 'A', { name: 'Ann' }), member('peer-zzzzzzzz', 'Z')]);
    const join = s.platform.last.sent[0];
    expect(join).toMatchObject({ type: 'join', meta: { [INSTANCE_META_KEY]: s.room.instanceId } });
    expect(s.room.peers().map((p) => [p.peerId, p.meta])).toEqual([
      ['peer-aaaaaaaa', { name: 'Ann' }],
      ['peer-zzzzzzzz', {}],
    ]);
    // Smaller id initiates: we (m) initiate to z only.
    expect(s.links.map((l) => l.initiator)).toEqual([true]);
    await closeRoom(s);
  });

  it('after a fresh rejoin, a returning peer is re-keyed (same link), an absent one leaves after the grace', async () => {
    const s = await open([member('peer-aaaaaaaa', 'A'), member('peer-zzzzzzzz', 'Z')]);
    await reconnect(s, welcomeFor('peer-nnnnnnnn', { members: [member('peer-bbbbbbbb', 'A')] }));
    expect(s.events).toContainEqual([
      'peer-rejoined',
      { peerId: 'peer-bbbbbbbb', previousPeerId: 'peer-aaaaaaaa' },
    ]);
    expect(s.events).toContainEqual([
      'resumed',
      { kind: 'rejoined', peerId: 'peer-nnnnnnnn', previousPeerId: 'peer-mmmmmmmm' },
    ]);
    expect(s.room.peerId).toBe('peer-nnnnnnnn');
    // Z comes back later under a new id, within the grace: re-keyed, not a new peer.
    s.platform.last.deliver({ type: 'peer-joined', peer: member('peer-yyyyyyyy', 'Z') });
    expect(s.events).toContainEqual([
      'peer-rejoined',
      { peerId: 'peer-yyyyyyyy', previousPeerId: 'peer-zzzzzzzz' },
    ]);
    expect(s.events.filter(([e]) => e === 'peer-joined')).toEqual([]);
    expect(s.links).toHaveLength(1);
    await closeRoom(s);
  });

  it('an orphan that never returns is reported left (timeout) after orphanGraceMs', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    await reconnect(s, welcomeFor('peer-nnnnnnnn'));
    await s.clock.advance(4_999);
    expect(s.room.peers()).toHaveLength(1);
    await s.clock.advance(1);
    expect(s.events).toContainEqual(['peer-left', { peerId: 'peer-zzzzzzzz', reason: 'timeout' }]);
    expect(s.links[0]!.destroyed).toBe(true);
    await closeRoom(s);
  });

  it('a resumed session drops peers the server no longer lists, and adds new ones once', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    await reconnect(
      s,
      welcomeFor('peer-mmmmmmmm', { resumed: true, members: [member('peer-qqqqqqqq', 'Q')] }),
    );
    expect(s.events).toContainEqual(['peer-left', { peerId: 'peer-zzzzzzzz', reason: 'disconnected' }]);
    // The replayed mailbox repeats the join: no duplicate event.
    s.platform.last.deliver({ type: 'peer-joined', peer: member('peer-qqqqqqqq', 'Q') });
    expect(s.events.filter(([e]) => e === 'peer-joined')).toHaveLength(1);
    await closeRoom(s);
  });

  it('fresh TURN credentials go to new links only: a live link is never reconfigured (no surprise ICE restart)', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    s.links[0]!.up();
    const fresh = [{ urls: 'turn:relay.example:3478', username: '2:me', credential: 'new' }];
    s.platform.last.deliver({ type: 'turn-credentials', iceServers: fresh, iceServersExpireAt: 2 });
    await reconnect(
      s,
      welcomeFor('peer-mmmmmmmm', {
        resumed: true,
        members: [member('peer-zzzzzzzz', 'Z')],
        iceServers: fresh,
        iceServersExpireAt: 3,
      }),
    );
    expect(s.links[0]!.configured).toEqual([]);
    await closeRoom(s);
  });

  it('a reliable broadcast waits for a peer that is rejoining without a live link, and reaches its new id', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    s.links[0]!.up();
    s.platform.last.drop();
    s.links[0]!.fail(); // the link dies while signaling is away too
    await s.clock.advance(100);
    s.platform.last.open();
    s.platform.last.deliver(welcomeFor('peer-nnnnnnnn')); // a fresh join; Z is not back yet
    await settle();
    expect(s.room.send('kept for Z')).toBe(1);
    const toZ = () =>
      s.platform.sockets
        .flatMap((k) => k.sent)
        .filter((m) => m.type === 'data' && m.payload === 'kept for Z');
    expect(toZ()).toEqual([]);
    s.platform.last.deliver({ type: 'peer-joined', peer: member('peer-yyyyyyyy', 'Z') });
    expect(toZ()).toMatchObject([{ to: 'peer-yyyyyyyy' }]);
    await closeRoom(s);
  });

  it('while a peer is rejoining, nothing is sent to its old id (no not_in_room floods)', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    s.links[0]!.up();
    await s.clock.advance(10_000);
    s.room.send('unacked');
    s.platform.last.drop();
    s.links[0]!.fail(); // replaced at once (the retry interval has passed); its offer waits in the queue
    s.links[1]!.fire('signal', { type: 'offer', sdp: 'v=0\r\na=ice-ufrag:x\r\n' });
    await s.clock.advance(100);
    s.platform.last.open();
    s.platform.last.deliver(welcomeFor('peer-nnnnnnnn'));
    await settle();
    const sent = () => s.platform.sockets.flatMap((k) => k.sent);
    const before = sent().length;
    // Retransmits, acks, relink requests, retries and queued signals all come due in this time.
    await s.clock.advance(4_000);
    s.room.send('more');
    const toOldId = sent()
      .slice(before)
      .filter((m) => 'to' in m && m.to === 'peer-zzzzzzzz');
    expect(toOldId).toEqual([]);
    // Once the peer is back under its new id, the queued offer and the messages go there.
    s.platform.last.deliver({ type: 'peer-joined', peer: member('peer-yyyyyyyy', 'Z') });
    const toNewId = sent().filter((m) => 'to' in m && m.to === 'peer-yyyyyyyy');
    expect(toNewId.map((m) => m.type)).toContain('signal');
    expect(toNewId.filter((m) => m.type === 'data').map((m) => m.payload)).toEqual(['unacked', 'more']);
    await closeRoom(s);
  });

  it('close() is idempotent and leaves no timer behind', async () => {
    const s = await open([member('peer-zzzzzzzz', 'Z')]);
    s.links[0]!.up();
    s.room.send('x');
    expect(s.clock.pending).toBeGreaterThan(0);
    const closing = [s.room.close(), s.room.close()];
    s.platform.last.deliver({ type: 'left', replyTo: 1 });
    await Promise.all(closing);
    expect(s.clock.pending).toBe(0);
    expect(s.links[0]!.destroyed).toBe(true);
    expect(s.platform.last.sent.map((m) => m.type)).toContain('leave');
    expect(s.room.state).toBe('closed');
  });
});
