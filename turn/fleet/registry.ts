/**
 * The relay registry: every relay signaling may hand to clients (the bundled one, and the fleet named in
 * `TURN_SERVERS`), its health from periodic probes, and the order a given client should try them in.
 *
 * Health: every relay starts healthy (so the first clients after a restart are not left without relays
 * while the first probes are out); `failureThreshold` consecutive missed probes make it unhealthy, and
 * `recoveryThreshold` consecutive answers make it healthy again. Entries that share a host, port and
 * transport (turn: and stun: on one port) share one probe and one health. The bundled relay runs in this
 * process, so it is healthy for as long as the process runs and is never probed.
 *
 * Order ({@link RelayRegistry.select}): relays in the client's region first, then higher weight, then lower
 * load, then lower probe RTT, then configuration order. The order matters to browsers: libwebrtc gives
 * relay candidates from earlier TURN servers a higher priority (pc/ice_server_parsing.cc, "First in the
 * list gets highest priority"), so the first relay is the one ICE tries first.
 */
import { RelayProber } from './relay-probe.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { targetKey, type ProbeTarget, type RelaySpec } from './relay-spec.js';

interface Common {
  /** Stable id, used as the metric label: the configured URL, or "bundled". */
  id: string;
  region: string | undefined;
  weight: number;
  healthy: boolean;
  /** Last probe round trip from this process, ms; undefined until one was answered (or never probed). */
  lastRtt: number | undefined;
  /** Fraction of capacity in use, 0-1, where the relay reports it (the bundled one does); else undefined. */
  load: number | undefined;
}

export type RelayStatus = Common &
  (
    | { kind: 'external'; url: string; scheme: RelaySpec['scheme'] }
    /** The bundled relay's URLs name the host each client reached signaling at, so they are built per client. */
    | ({ kind: 'bundled' } & BundledRelayPorts)
  );

/** Where the bundled relay listens; `relay.address` of a running relay fits. */
export interface BundledRelayPorts {
  /** UDP port (and TURN over TCP's, on the same number unless `tcpPort` says otherwise). */
  port: number;
  /** TURN over TCP port, or null when TCP is off. Default: none handed out. */
  tcpPort?: number | null;
  /** TURN over TLS port, or null when TLS is off. Default: none handed out. */
  tlsPort?: number | null;
}

/**
 * Among relays of equal rank, the transport a client should try first: UDP (no head-of-line blocking,
 * least overhead), then TCP, then TLS (RFC 8656 §3.1). Browsers gather on all at once; the order only
 * decides which allocation a client that caps its servers keeps.
 */
function transportRank(s: RelayStatus): number {
  if (s.kind === 'bundled' || s.scheme === 'stun') return 0;
  if (s.scheme === 'turns') return 2;
  return s.url.includes('transport=tcp') ? 1 : 0;
}

export interface BundledRelayOptions extends BundledRelayPorts {
  region?: string | undefined;
  /** Default 1. */
  weight?: number;
  /** Fraction of capacity in use, 0-1, read at each selection (e.g. allocations / total quota). */
  load?: () => number;
}

export interface RelayRegistryOptions {
  /** External relays, from `TURN_SERVERS`. */
  relays: readonly RelaySpec[];
  /** The relay running in this process, or null/undefined for none. */
  bundled?: BundledRelayOptions | null;
  /** Time between probe rounds, ms; 0 turns probing off (every relay stays healthy). Default 5000. */
  probeIntervalMs?: number;
  /** How long a probe waits for its answer, ms; must be below the interval. Default 1000. */
  probeTimeoutMs?: number;
  /** Consecutive missed probes that make a relay unhealthy. Default 2 (one lost datagram is not an outage). */
  failureThreshold?: number;
  /** Consecutive answered probes that make an unhealthy relay healthy again. Default 1. */
  recoveryThreshold?: number;
  /** Default: the system clock, with unref'd timers. */
  clock?: Clock;
  /** Called when a relay turns unhealthy or healthy again. */
  onChange?: (relay: RelayStatus) => void;
  /** Called after every probe, with the target ("udp:host:port") and its RTT in ms or null for a miss. */
  onProbe?: (target: string, rttMs: number | null) => void;
}

export const REGISTRY_DEFAULTS = {
  probeIntervalMs: 5000,
  probeTimeoutMs: 1000,
  failureThreshold: 2,
  recoveryThreshold: 1,
} as const;

/** Health of one probe target, shared by the entries that point at it. */
interface TargetHealth {
  target: ProbeTarget;
  healthy: boolean;
  misses: number;
  answers: number;
  lastRtt: number | undefined;
  inFlight: Promise<void> | null;
}

type Entry =
  | { kind: 'bundled'; bundled: BundledRelayOptions }
  /** `health` null: never probed (turns: over DTLS, or probing off). */
  | { kind: 'external'; spec: RelaySpec; health: TargetHealth | null };

/** RTTs within this many ms count as equal, so probe jitter does not reorder relays round after round. */
const RTT_STEP_MS = 5;
/** Loads within this fraction count as equal, for the same reason. */
const LOAD_STEP = 0.1;

export class RelayRegistry {
  private readonly entries: Entry[];
  private readonly targets = new Map<string, TargetHealth>();
  private readonly prober: RelayProber;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly failureThreshold: number;
  private readonly recoveryThreshold: number;
  private timer: unknown = null;
  private started = false;
  private closed = false;

  constructor(private readonly options: RelayRegistryOptions) {
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.probeIntervalMs ?? REGISTRY_DEFAULTS.probeIntervalMs;
    this.timeoutMs = options.probeTimeoutMs ?? REGISTRY_DEFAULTS.probeTimeoutMs;
    this.failureThreshold = options.failureThreshold ?? REGISTRY_DEFAULTS.failureThreshold;
    this.recoveryThreshold = options.recoveryThreshold ?? REGISTRY_DEFAULTS.recoveryThreshold;
    if (this.intervalMs > 0 && this.timeoutMs >= this.intervalMs)
      throw new RangeError('probe timeout must be shorter than the probe interval');
    if (this.failureThreshold < 1 || this.recoveryThreshold < 1)
      throw new RangeError('thresholds must be at least 1');
    this.prober = new RelayProber(this.clock);
    this.entries = [];
    if (options.bundled) this.entries.push({ kind: 'bundled', bundled: options.bundled });
    for (const spec of options.relays) {
      let health: TargetHealth | null = null;
      if (spec.target && this.intervalMs > 0) {
        const key = targetKey(spec.target);
        health = this.targets.get(key) ?? null;
        if (!health) {
          health = {
            target: spec.target,
            healthy: true,
            misses: 0,
            answers: 0,
            lastRtt: undefined,
            inFlight: null,
          };
          this.targets.set(key, health);
        }
      }
      this.entries.push({ kind: 'external', spec, health });
    }
  }

  /** Probe every relay now, then every interval until close(). Idempotent; does nothing with probing off. */
  start(): void {
    if (this.started || this.closed || this.intervalMs === 0) return;
    this.started = true;
    this.loop();
  }

  /**
   * One probe round: resolves when every probe has been answered or timed out. A target whose previous
   * probe is still out is not probed twice.
   */
  probeAll(): Promise<void> {
    return Promise.all([...this.targets.values()].map((t) => (t.inFlight ??= this.probe(t)))).then(
      () => undefined,
    );
  }

  /** Every relay in configuration order (the bundled one first), with its current health. */
  list(): RelayStatus[] {
    return this.entries.map((e) => this.status(e));
  }

  /**
   * The relays to hand a client, best first: healthy ones only, ordered by region hint, weight, load and
   * RTT. If no TURN relay is healthy, all TURN relays are returned anyway: when every probe fails at once
   * the likelier cause is this host's own network or a firewall dropping our probes, not the whole fleet,
   * and a client given no relay has no path at all behind a symmetric NAT, while a relay that is really
   * down costs it one failed allocation. STUN-only entries are judged apart: they cannot stand in for TURN.
   */
  select(regionHint?: string): RelayStatus[] {
    const all = this.entries.map((e, index) => ({ s: this.status(e), index }));
    const pick = (group: typeof all) => {
      const healthy = group.filter((x) => x.s.healthy);
      return healthy.length > 0 ? healthy : group;
    };
    const isStun = (x: (typeof all)[number]) => x.s.kind === 'external' && x.s.scheme === 'stun';
    const chosen = [...pick(all.filter((x) => !isStun(x))), ...pick(all.filter(isStun))];
    const rank = (x: (typeof all)[number]) => [
      regionHint !== undefined && x.s.region === regionHint ? 0 : 1,
      -x.s.weight,
      Math.floor((x.s.load ?? 0) / LOAD_STEP),
      // The bundled relay is in this process: nothing is nearer to signaling.
      Math.floor((x.s.lastRtt ?? (x.s.kind === 'bundled' ? 0 : Infinity)) / RTT_STEP_MS),
      transportRank(x.s),
      x.index,
    ];
    return chosen
      .map((x) => ({ s: x.s, key: rank(x) }))
      .sort((a, b) => {
        for (let i = 0; i < a.key.length; i++) {
          const d = a.key[i]! - b.key[i]!;
          if (d !== 0 && !Number.isNaN(d)) return d;
        }
        return 0;
      })
      .map((x) => x.s);
  }

  /** Idempotent: stops probing and closes the probe sockets. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.prober.close();
  }

  private loop(): void {
    this.probeAll()
      .catch(() => undefined)
      .finally(() => {
        if (!this.closed) this.timer = this.clock.setTimeout(() => this.loop(), this.intervalMs);
      });
  }

  private async probe(t: TargetHealth): Promise<void> {
    try {
      const rtt = await this.prober.probe(t.target, this.timeoutMs);
      if (this.closed) return;
      this.options.onProbe?.(targetKey(t.target), rtt);
      const was = t.healthy;
      if (rtt === null) {
        t.answers = 0;
        t.misses++;
        if (t.misses >= this.failureThreshold) t.healthy = false;
      } else {
        t.misses = 0;
        t.answers++;
        t.lastRtt = rtt;
        if (t.answers >= this.recoveryThreshold) t.healthy = true;
      }
      if (t.healthy !== was && this.options.onChange) {
        for (const e of this.entries)
          if (e.kind === 'external' && e.health === t) this.options.onChange(this.status(e));
      }
    } finally {
      t.inFlight = null;
    }
  }

  private status(e: Entry): RelayStatus {
    if (e.kind === 'bundled') {
      const load = e.bundled.load?.();
      return {
        kind: 'bundled',
        id: 'bundled',
        port: e.bundled.port,
        tcpPort: e.bundled.tcpPort ?? null,
        tlsPort: e.bundled.tlsPort ?? null,
        region: e.bundled.region,
        weight: e.bundled.weight ?? 1,
        healthy: true,
        lastRtt: undefined,
        load: load === undefined || !Number.isFinite(load) ? undefined : Math.min(1, Math.max(0, load)),
      };
    }
    const { spec } = e;
    return {
      kind: 'external',
      id: spec.url,
      url: spec.url,
      scheme: spec.scheme,
      region: spec.region,
      weight: spec.weight,
      healthy: e.health?.healthy ?? true,
      lastRtt: e.health?.lastRtt,
      load: undefined,
    };
  }
}
