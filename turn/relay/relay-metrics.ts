/**
 * The relay's counters: plain numbers bumped on the data path (no label hashing per packet) and read by
 * Prometheus at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Relay } from './relay.js';
import { newBucketHistogram, registerBucketHistogram, type BucketHistogram } from './bucket-histogram.js';

/**
 * Upper bounds of the allocation lifetime histogram, seconds: a failed call attempt (under 30 s), a short
 * call, a long one, past the default one-hour lifetime by refreshes.
 */
export const ALLOCATION_LIFETIME_BOUNDS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400];

export interface RelayCounters {
  packetsToPeer: number;
  packetsToClient: number;
  bytesToPeer: number;
  bytesToClient: number;
  /** Client → relay ChannelData and relay → client ChannelData. */
  channelDataIn: number;
  channelDataOut: number;
  /** Client → relay Send indications and relay → client Data indications. */
  sendIndications: number;
  dataIndications: number;
  droppedNoPermission: number;
  droppedBandwidth: number;
  /** CreatePermission or ChannelBind refused by the peer-address policy (403). */
  permissionDenied: number;
  refreshes: number;
  malformed: number;
  /** TCP/TLS connections closed at accept: every slot taken, or the client's source holds its share. */
  streamsRefusedTotal: number;
  streamsRefusedPerAddress: number;
  /** CreatePermission or ChannelBind of a room-bound credential toward an address outside its room (403). */
  roomScopeDenied: number;
  /** Users revoked on this relay (RelayControl.revokeUser). */
  revocations: number;
  /**
   * Allocate outcomes: "success", "challenge" (the 401 that answers a first request without credentials,
   * RFC 8489 §9.2: part of every successful allocation), or the error code of a real failure.
   */
  allocate: Map<string, number>;
  /** How long allocations lived, seconds, observed when each ends. */
  allocationLifetime: BucketHistogram;
}

export function newCounters(): RelayCounters {
  return {
    packetsToPeer: 0,
    packetsToClient: 0,
    bytesToPeer: 0,
    bytesToClient: 0,
    channelDataIn: 0,
    channelDataOut: 0,
    sendIndications: 0,
    dataIndications: 0,
    droppedNoPermission: 0,
    droppedBandwidth: 0,
    permissionDenied: 0,
    refreshes: 0,
    malformed: 0,
    streamsRefusedTotal: 0,
    streamsRefusedPerAddress: 0,
    revocations: 0,
    roomScopeDenied: 0,
    allocate: new Map(),
    allocationLifetime: newBucketHistogram(ALLOCATION_LIFETIME_BOUNDS),
  };
}

/** Register a relay's metrics in `registry`; the values are read from `relay.stats()` at each scrape. */
export function registerRelayMetrics(registry: Registry, relay: Pick<Relay, 'stats'>): void {
  const read = () => relay.stats();
  const counter = (name: string, help: string, labelNames: string[], fill: (c: Counter) => void) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        fill(this);
      },
    });
  new Gauge({
    name: 'turn_allocations_active',
    help: 'Allocations alive now, by the transport the client reaches the relay over',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      for (const [transport, n] of Object.entries(read().allocationsByTransport)) this.set({ transport }, n);
    },
  });
  new Gauge({
    name: 'turn_relay_sockets_open',
    help: 'Relay UDP sockets open now (allocations and reservations)',
    registers: [registry],
    collect() {
      this.set(read().relaySockets);
    },
  });
  counter(
    'turn_allocate_total',
    'Allocate requests by result: success, challenge (the first 401 every client gets), or the error code of a failure',
    ['result'],
    (m) => {
      for (const [result, n] of read().counters.allocate) m.inc({ result }, n);
    },
  );
  counter('turn_relayed_packets_total', 'Packets relayed', ['direction'], (m) => {
    const c = read().counters;
    m.inc({ direction: 'to_peer' }, c.packetsToPeer);
    m.inc({ direction: 'to_client' }, c.packetsToClient);
  });
  counter('turn_relayed_bytes_total', 'Payload bytes relayed', ['direction'], (m) => {
    const c = read().counters;
    m.inc({ direction: 'to_peer' }, c.bytesToPeer);
    m.inc({ direction: 'to_client' }, c.bytesToClient);
  });
  counter('turn_messages_total', 'Data-path messages by kind', ['kind'], (m) => {
    const c = read().counters;
    m.inc({ kind: 'channel_data_in' }, c.channelDataIn);
    m.inc({ kind: 'channel_data_out' }, c.channelDataOut);
    m.inc({ kind: 'send_indication' }, c.sendIndications);
    m.inc({ kind: 'data_indication' }, c.dataIndications);
  });
  counter('turn_dropped_total', 'Packets dropped', ['reason'], (m) => {
    const c = read().counters;
    m.inc({ reason: 'no_permission' }, c.droppedNoPermission);
    m.inc({ reason: 'bandwidth' }, c.droppedBandwidth);
    m.inc({ reason: 'malformed' }, c.malformed);
  });
  counter(
    'turn_permission_denied_total',
    'Permissions and channel binds refused by the peer policy',
    [],
    (m) => m.inc(read().counters.permissionDenied),
  );
  counter(
    'turn_stream_connections_refused_total',
    'TCP/TLS client connections closed at accept, by the cap that refused them (total or per_address)',
    ['reason'],
    (m) => {
      const c = read().counters;
      m.inc({ reason: 'total' }, c.streamsRefusedTotal);
      m.inc({ reason: 'per_address' }, c.streamsRefusedPerAddress);
    },
  );
  counter(
    'turn_room_scope_denied_total',
    "Permissions and channel binds refused because the peer is outside the credential's room",
    [],
    (m) => m.inc(read().counters.roomScopeDenied),
  );
  counter('turn_revocations_total', 'Users revoked on this relay', [], (m) =>
    m.inc(read().counters.revocations),
  );
  counter('turn_refresh_total', 'Refresh requests accepted', [], (m) => m.inc(read().counters.refreshes));
  registerBucketHistogram(
    registry,
    'turn_allocation_lifetime_seconds',
    'How long allocations lived, from the Allocate success to their end (expiry, Refresh to 0, closed connection)',
    () => read().counters.allocationLifetime,
  );
}
