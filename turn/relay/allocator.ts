/**
 * Allocate (RFC 8656 §7.1, §7.2): the checks in the RFC's order, the relayed address for each family the
 * client asked for (following the listener it contacted), ports with EVEN-PORT and RESERVATION-TOKEN, the
 * quotas, and the success response, which is kept for a retransmitted request. The table then owns the
 * allocation.
 */
import type { Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { Attr, Method, StunClass, StunWriter, getAttr, type StunMessage } from '../stun/message.js';
import { Allocation, closeSocket, transportOf, type ClientLink, type RelaySocket } from './allocation.js';
import type { AllocationTable } from './allocation-table.js';
import type { AuthResult, ReplyFn } from './auth.js';
import { advertisedAddress, familyOf, relayAddressFor, type Family } from './listen-addresses.js';
import { SOFTWARE, type Limits, type TurnServerOptions } from './options.js';
import type { RelayCounters } from './relay-metrics.js';
import type { RelayPorts } from './relay-ports.js';
import type { RoomScope } from './room-scope.js';

const UDP = 17;

export interface AllocatorContext {
  options: TurnServerOptions;
  limits: Limits;
  table: AllocationTable;
  ports: RelayPorts;
  counters: RelayCounters;
  now: () => number;
  /** Whether the relay is closing: a late bind then gives its socket back. */
  closing: () => boolean;
  /** Every local address the relay listens on. */
  addresses: () => readonly string[];
  /** Whether a user's credential expiring at `expiresAt` was revoked (while its port was binding, say). */
  revoked: (userId: string, expiresAt: number) => boolean;
  /** Room scope: in strict mode an unscoped credential may not allocate. */
  scope: RoomScope;
  logger?: Logger | undefined;
}

type Granted = AuthResult & { ok: true };

/** REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.9, §18.11); null when malformed. */
function familyAttr(value: Buffer | undefined): Family | undefined | null {
  if (value === undefined) return undefined;
  if (value.length !== 4) return null;
  return value[0] === 0x01 ? 'IPv4' : value[0] === 0x02 ? 'IPv6' : null;
}

/** ADDRESS-ERROR-CODE (RFC 8656 §18.13): why the additional family of a dual allocation was not given. */
function addressErrorCode(family: Family, code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8');
  const v = Buffer.alloc(4 + text.length);
  v[0] = family === 'IPv6' ? 0x02 : 0x01;
  v[2] = Math.floor(code / 100);
  v[3] = code % 100;
  text.copy(v, 4);
  return v;
}

interface Request {
  primary: Family;
  /** The second family of a dual allocation. */
  additional: Family | undefined;
  evenPort: Buffer | undefined;
  token: Buffer | undefined;
}

export class Allocator {
  private readonly inflight = new Set<Promise<void>>();

  constructor(private readonly c: AllocatorContext) {}

  /** Resolves once no Allocate is still binding a port. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  count(result: string): void {
    const { allocate } = this.c.counters;
    allocate.set(result, (allocate.get(result) ?? 0) + 1);
  }

  /**
   * RFC 8656 §7.2 (Allocate) and §7.3 (Refresh): the lifetime granted for a requested one, within
   * [default, max]. Zero deletes on a Refresh; on an Allocate it means nothing and gets the default.
   */
  lifetimeSec(m: StunMessage, allocate: boolean): number {
    const requested = getAttr(m, Attr.lifetime);
    const asked = requested?.length === 4 ? requested.readUInt32BE(0) : undefined;
    if (asked === 0 && !allocate) return 0;
    const { defaultLifetimeSec } = this.c.limits;
    return Math.min(Math.max(asked ?? defaultLifetimeSec, defaultLifetimeSec), this.c.options.maxLifetimeSec);
  }

  onAllocate(m: StunMessage, link: ClientLink, reply: ReplyFn, authenticate: () => Granted | number): void {
    const { table, options } = this.c;
    const existing = table.find(link);
    if (existing) {
      // A retransmitted Allocate gets the same answer; any other is a mismatch (RFC 8656 §7.2).
      if (existing.allocateTransactionId.equals(m.transactionId)) link.send(existing.allocateResponse);
      else reply(StunClass.error, (w) => w.addError(437, 'Allocation Mismatch'));
      return;
    }
    if (table.isPending(link)) return; // still binding a port for the first copy of this request
    const auth = authenticate();
    // The 401 to a request without MESSAGE-INTEGRITY is the challenge every client meets first
    // (RFC 8489 §9.2.3): counted apart, so the 401 rate shows only credentials that failed.
    if (typeof auth === 'number')
      return this.count(auth === 401 && m.integrityOffset < 0 ? 'challenge' : String(auth));
    const fail = (code: number, reason: string) => {
      this.count(String(code));
      reply(StunClass.error, (w) => w.addError(code, reason), auth.key);
    };
    // Strict room scope: a credential bound to no room may not allocate (RFC 8656 §7.2 lets a server
    // refuse an Allocate for administrative reasons with 403).
    if (!this.c.scope.admits(auth.room)) return fail(403, 'Forbidden');
    const transport = getAttr(m, Attr.requestedTransport);
    if (!transport || transport.length !== 4) return fail(400, 'Bad Request');
    if (transport[0] !== UDP) return fail(442, 'Unsupported Transport Protocol');
    const requested = familyAttr(getAttr(m, Attr.requestedAddressFamily));
    const additional = familyAttr(getAttr(m, Attr.additionalAddressFamily));
    const evenPort = getAttr(m, Attr.evenPort);
    const token = getAttr(m, Attr.reservationToken);
    if (requested === null || additional === null) return fail(400, 'Bad Request');
    // RFC 8656 §7.2: a token names its port and so its family; both families at once is a contradiction;
    // ADDITIONAL-ADDRESS-FAMILY may only ask for IPv6 beside the default IPv4.
    if ((token && (requested || additional || evenPort)) || (requested && additional))
      return fail(400, 'Bad Request');
    if (additional === 'IPv4') return fail(400, 'Bad Request');
    const primary = requested ?? 'IPv4';
    let reserved: Socket | null = null;
    if (token) {
      // A reserved port already counts against the quotas of the user who reserved it.
      reserved = this.c.ports.claim(token);
      if (!reserved) return fail(508, 'Insufficient Capacity');
    } else {
      if (!relayAddressFor(link.local.address, primary, this.c.addresses()))
        return fail(440, 'Address Family not Supported');
      if (table.load(auth.userId) >= options.userQuota) return fail(486, 'Allocation Quota Reached');
      if (table.load() >= options.totalQuota) return fail(508, 'Insufficient Capacity');
    }
    const request: Request = { primary, additional, evenPort, token };
    const done = this.create(m, link, auth, request, reserved, fail)
      .catch((err: unknown) => {
        this.c.counters.malformed++;
        this.c.logger?.warn({ err }, 'allocate failed');
      })
      .finally(() => this.inflight.delete(done));
    this.inflight.add(done);
    table.track(link, auth.userId, done);
  }

  private async create(
    m: StunMessage,
    link: ClientLink,
    auth: Granted,
    request: Request,
    reserved: Socket | null,
    fail: (code: number, reason: string) => void,
  ): Promise<void> {
    const { ports } = this.c;
    const { worker } = this.c.options;
    const sockets: Socket[] = reserved ? [reserved] : [];
    let reservationToken: Buffer | undefined;
    let additionalError: Buffer | undefined;
    // One of several workers: the quotas are the primary's, counted over every worker. A granted unit is
    // given back when the allocation ends (the table's `ended`), or here when none is made.
    let admitted = false;
    let made = false;
    try {
      if (worker && !reserved) {
        const refused = await worker.admit(auth.userId);
        if (refused !== null) {
          if (this.c.closing()) return;
          return refused === 486 ? fail(486, 'Allocation Quota Reached') : fail(508, 'Insufficient Capacity');
        }
        admitted = true;
      }
      if (!reserved) {
        const { evenPort } = request;
        const reserve = evenPort !== undefined && evenPort.length >= 1 && (evenPort[0]! & 0x80) !== 0;
        const host = relayAddressFor(link.local.address, request.primary, this.c.addresses())!;
        const taken = await ports.take(host, evenPort !== undefined, reserve, auth.userId);
        if (!taken) return this.c.closing() ? undefined : fail(508, 'Insufficient Capacity');
        sockets.push(taken.socket);
        reservationToken = taken.token;
      }
      if (request.additional) {
        // A dual allocation that cannot have its second family still succeeds, saying why (§7.2).
        const host = relayAddressFor(link.local.address, request.additional, this.c.addresses());
        const taken = host ? await ports.take(host, false, false, auth.userId) : null;
        if (taken) sockets.push(taken.socket);
        else
          additionalError = host
            ? addressErrorCode(request.additional, 508, 'Insufficient Capacity')
            : addressErrorCode(request.additional, 440, 'Address Family not Supported');
      }
      if (this.c.closing()) return;
      // The user may have been revoked while the port was binding: nothing is created for it then.
      if (this.c.revoked(auth.userId, auth.expiresAt)) return fail(401, 'Unauthorized');
      const lifetime = this.lifetimeSec(m, true);
      const relays: RelaySocket[] = sockets.map((socket) => {
        const bound = socket.address();
        return {
          socket,
          relayed: {
            address: advertisedAddress(bound.address, this.c.options.externalIps),
            port: bound.port,
            family: familyOf(bound.address),
          },
        };
      });
      const w = new StunWriter(Method.allocate, StunClass.success, m.transactionId);
      for (const r of relays) w.addAddress(Attr.xorRelayedAddress, r.relayed);
      w.addUint32(Attr.lifetime, lifetime).addAddress(Attr.xorMappedAddress, transportOf(link));
      if (reservationToken) w.add(Attr.reservationToken, reservationToken);
      if (additionalError) w.add(Attr.addressErrorCode, additionalError);
      const response = w
        .addText(Attr.software, SOFTWARE)
        .build({ integrityKey: auth.key, fingerprint: true });
      const allocation = new Allocation(
        link,
        relays,
        auth.username,
        auth.userId,
        auth.room,
        this.c.now() + lifetime * 1000,
        Buffer.from(m.transactionId),
        response,
        { counters: this.c.counters, now: this.c.now, bandwidthBps: this.c.options.bandwidthBps },
      );
      for (const { socket } of relays)
        socket.on('error', (err) => this.c.logger?.debug({ err }, 'relay socket error'));
      this.c.table.add(allocation);
      made = true;
      sockets.length = 0; // owned by the allocation now
      if (worker && auth.room !== undefined)
        worker.roomAllocation(auth.room, [
          link.address,
          ...relays.flatMap((r) => [r.relayed.address, r.socket.address().address]),
        ]);
      this.count('success');
      this.c.logger?.debug(
        {
          user: auth.userId,
          relayed: relays.map((r) => r.relayed),
          transport: link.local.transport,
          lifetime,
        },
        'allocation created',
      );
      if (!this.c.closing()) link.send(response);
    } finally {
      for (const s of sockets) void closeSocket(s);
      if (admitted && !made) worker?.release(auth.userId);
    }
  }
}
