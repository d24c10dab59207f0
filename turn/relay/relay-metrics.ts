/**
 * The relay's counters: plain numbers bumped on the data path (no label hashing per packet) and read by
 * Prometheus at scrape time.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Relay } from './relay.js';

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
  /** Allocate outcomes: "success" or the error code. */
  allocate: Map<string, number>;
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
  counter('turn_allocate_total', 'Allocate requests by result (success or error code)', ['result'], (m) => {
    for (const [result, n] of read().counters.allocate) m.inc({ result }, n);
  });
  counter('turn_packets_relayed_total', 'Packets relayed', ['direction'], (m) => {
    const c = read().counters;
    m.inc({ direction: 'to_peer' }, c.packetsToPeer);
    m.inc({ direction: 'to_client' }, c.packetsToClient);
  });
  counter('turn_bytes_relayed_total', 'Payload bytes relayed', ['direction'], (m) => {
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
}
