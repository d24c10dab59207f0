/**
 * Requests on an existing allocation, once authenticated: Refresh (RFC 8656 §7.3), CreatePermission
 * (§9.2) and ChannelBind (§11.2), with their checks in the RFC's order, then the peer-address policy,
 * then room scope (room-scope.ts). A permission toward an address its room has not announced yet waits,
 * bounded, for the announcement; a retransmission of a request already waiting is not answered twice.
 */
import type { Logger } from 'pino';
import {
  Attr,
  Method,
  StunClass,
  decodeAddress,
  getAllAttrs,
  getAttr,
  type StunMessage,
  type StunWriter,
  type TransportAddress,
} from '../stun/message.js';
import { MAX_CHANNEL, MIN_CHANNEL } from '../stun/channel-data.js';
import type { PeerPolicy } from '../peer-policy.js';
import type { Allocation, ClientLink } from './allocation.js';
import type { AllocationTable } from './allocation-table.js';
import type { AuthResult, ReplyFn } from './auth.js';
import type { Limits } from './options.js';
import type { RelayCounters } from './relay-metrics.js';
import type { RoomScope } from './room-scope.js';

export interface AllocationRequestsContext {
  table: AllocationTable;
  counters: RelayCounters;
  limits: Limits;
  policy: PeerPolicy;
  scope: RoomScope;
  /** The lifetime a Refresh grants (Allocator.lifetimeSec). */
  lifetimeSec: (m: StunMessage, allocate: boolean) => number;
  now: () => number;
  logger?: Logger | undefined;
}

type Answer = {
  ok: (build?: (w: StunWriter) => void) => void;
  fail: (code: number, reason: string) => void;
};

export class AllocationRequests {
  /** Requests waiting for a room announcement, by link key and transaction id. */
  private readonly waiting = new Set<string>();

  constructor(private readonly c: AllocationRequestsContext) {}

  /** Refresh, CreatePermission or ChannelBind from `link`, authenticated as `auth`. */
  handle(m: StunMessage, link: ClientLink, reply: ReplyFn, auth: AuthResult & { ok: true }): void {
    const allocation = this.c.table.find(link);
    if (!allocation) return reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'), auth.key);
    // RFC 8656 §5: later requests must use the credentials the allocation was made with.
    if (auth.username !== allocation.username)
      return reply(StunClass.error, (w) => w.addError(441, 'Wrong Credentials'), auth.key);
    const answer: Answer = {
      ok: (build = () => undefined) => reply(StunClass.success, build, auth.key),
      fail: (code, reason) => reply(StunClass.error, (w) => w.addError(code, reason), auth.key),
    };
    if (m.method === Method.refresh) return this.refresh(m, allocation, answer);

    const { fail } = answer;
    const peers: TransportAddress[] = [];
    for (const value of getAllAttrs(m, Attr.xorPeerAddress)) {
      const peer = decodeAddress(value, true, m.transactionId);
      if (!peer) return fail(400, 'Bad Request');
      peers.push(peer);
    }
    if (peers.length === 0) return fail(400, 'Bad Request');
    // RFC 8656 §9.1, §11.2: each peer must be of a family the allocation relays.
    if (peers.some((p) => !allocation.relayFor(p.family))) return fail(443, 'Peer Address Family Mismatch');
    let channel: number | undefined;
    if (m.method === Method.channelBind) {
      const value = getAttr(m, Attr.channelNumber);
      if (!value || value.length !== 4 || peers.length !== 1) return fail(400, 'Bad Request');
      channel = value.readUInt16BE(0);
      if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) return fail(400, 'Bad Request');
    }
    const ips = [...new Set(peers.map((p) => p.address))];
    if (ips.some((ip) => !this.c.policy.permits(ip))) {
      this.c.counters.permissionDenied++;
      this.c.logger?.info({ user: allocation.userId, peers: ips }, 'peer denied by policy');
      return fail(403, 'Forbidden');
    }
    const { scope } = this.c;
    if (scope.allowsNow(allocation, ips)) return this.grant(allocation, peers, channel, answer);

    // Not known to the room yet: wait (bounded) for the announcement that may be on its way.
    const waitKey = `${link.key}|${m.transactionId.toString('hex')}`;
    if (this.waiting.has(waitKey)) return; // a retransmission: the first copy will be answered
    this.waiting.add(waitKey);
    void scope
      .allows(allocation, ips)
      .then((allowed) => {
        this.waiting.delete(waitKey);
        // Gone while waiting (expired, deleted, revoked, its connection closed): nothing to answer for.
        if (this.c.table.find(link) !== allocation) return;
        if (allowed) return this.grant(allocation, peers, channel, answer);
        this.c.counters.roomScopeDenied++;
        this.c.logger?.info(
          { user: allocation.userId, room: allocation.room, peers: ips },
          'peer outside the room denied',
        );
        fail(403, 'Forbidden');
      })
      .catch((err: unknown) => {
        this.waiting.delete(waitKey);
        this.c.logger?.warn({ err }, 'room scope check failed');
      });
  }

  /** RFC 8656 §7.3. */
  private refresh(m: StunMessage, allocation: Allocation, { ok, fail }: Answer): void {
    // A family the allocation does not have is a mismatch.
    const family = getAttr(m, Attr.requestedAddressFamily);
    if (family && !allocation.relayFor(family[0] === 0x02 ? 'IPv6' : 'IPv4'))
      return fail(443, 'Peer Address Family Mismatch');
    const lifetime = this.c.lifetimeSec(m, false);
    this.c.counters.refreshes++;
    if (lifetime === 0) {
      void this.c.table.remove(allocation);
      return ok((w) => w.addUint32(Attr.lifetime, 0));
    }
    allocation.expiresAt = this.c.now() + lifetime * 1000;
    return ok((w) => w.addUint32(Attr.lifetime, lifetime));
  }

  /** Install the permissions (CreatePermission) or the channel (ChannelBind, RFC 8656 §11.2). */
  private grant(
    allocation: Allocation,
    peers: TransportAddress[],
    channel: number | undefined,
    { ok, fail }: Answer,
  ): void {
    const { limits } = this.c;
    const permissionMs = limits.permissionLifetimeSec * 1000;
    const fresh = new Set(peers.map((p) => p.address).filter((ip) => !allocation.permissions.has(ip)));
    if (allocation.permissions.size + fresh.size > limits.maxPermissions)
      return fail(508, 'Insufficient Capacity');
    if (channel === undefined) {
      for (const p of peers) allocation.permit(p.address, permissionMs);
      return ok();
    }
    const peer = peers[0]!;
    const byNumber = allocation.channelFor(channel);
    const byPeer = allocation.channelOfPeer(peer.address, peer.port);
    if (
      (byNumber && (byNumber.address !== peer.address || byNumber.port !== peer.port)) ||
      (byPeer && byPeer.number !== channel)
    )
      return fail(400, 'Bad Request');
    allocation.bind(channel, peer, limits.channelLifetimeSec * 1000);
    allocation.permit(peer.address, permissionMs);
    return ok();
  }
}
