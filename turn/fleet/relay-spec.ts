/**
 * One entry of `TURN_SERVERS`: a STUN/TURN URI (RFC 7064, RFC 7065) optionally followed by registry
 * parameters, e.g.
 *
 *   turn:relay-eu.example:3478?transport=udp;region=eu;weight=2
 *
 * `;` cannot occur in a STUN or TURN URI (RFC 7065 §3 grammar: scheme ":" host [":" port]
 * ["?transport=" transport]), so the parameters never collide with the URL, and a plain URL, the only form
 * `TURN_SERVERS` knew before, parses to the same relay as before with no region and weight 1.
 * Pure functions only: config validation and the registry share them.
 */

/** Where and how a relay is probed: UDP gets a STUN Binding, TCP (turns:, transport=tcp) a connect. */
export interface ProbeTarget {
  transport: 'udp' | 'tcp';
  /** Hostname, IPv4 or IPv6 literal (without brackets). */
  host: string;
  port: number;
}

export interface RelaySpec {
  /** The URL handed to clients, exactly as configured (parameters stripped). */
  url: string;
  scheme: 'turn' | 'turns' | 'stun';
  /** Region label matched against a client's region hint; undefined matches no hint. */
  region: string | undefined;
  /** Preference among relays of the same region match: higher first. Default 1. */
  weight: number;
  /** null: not probed, left as configured (turns: over DTLS, which a plain STUN probe cannot reach). */
  target: ProbeTarget | null;
}

/** Region labels: short, URL- and label-safe (they appear in a query parameter and a metric label). */
export const REGION_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const MAX_WEIGHT = 1000;

/** RFC 7064 §3.1 / RFC 7065 §3.1: 3478 for stun:/turn:, 5349 for turns:. */
const DEFAULT_PORT = { turn: 3478, turns: 5349, stun: 3478 } as const;

// host: a bracketed IPv6 literal or a name/IPv4 without ':' (RFC 3986 host as RFC 7065 uses it).
const URI = /^(turns?|stun):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

export type ParseRelayResult = { ok: true; spec: RelaySpec } | { ok: false; reason: string };

/** Parse one `TURN_SERVERS` entry; never throws. */
export function parseRelaySpec(entry: string): ParseRelayResult {
  const [url = '', ...params] = entry.trim().split(';');
  const m = URI.exec(url);
  if (!m) return { ok: false, reason: `not a turn:/turns:/stun: URL: ${url}` };
  const scheme = m[1] as RelaySpec['scheme'];
  const rawHost = m[2]!;
  const port = m[3] === undefined ? DEFAULT_PORT[scheme] : Number(m[3]);
  if (port < 1 || port > 65535) return { ok: false, reason: `bad port in ${url}` };
  if (scheme === 'stun' && m[4] !== undefined)
    return { ok: false, reason: `stun: URLs take no transport (RFC 7064): ${url}` };
  let region: string | undefined;
  let weight = 1;
  for (const param of params) {
    const eq = param.indexOf('=');
    const name = eq < 0 ? param : param.slice(0, eq);
    const value = eq < 0 ? '' : param.slice(eq + 1);
    if (name === 'region') {
      if (!REGION_PATTERN.test(value)) return { ok: false, reason: `bad region "${value}" for ${url}` };
      region = value;
    } else if (name === 'weight') {
      if (!/^\d{1,4}$/.test(value) || Number(value) > MAX_WEIGHT)
        return { ok: false, reason: `weight must be an integer 0-${MAX_WEIGHT} for ${url}` };
      weight = Number(value);
    } else {
      return { ok: false, reason: `unknown parameter "${name}" for ${url} (region, weight)` };
    }
  }
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  // RFC 7065 §3: without ?transport, turn: means UDP and turns: means TLS over TCP. turns: with
  // transport=udp is DTLS (RFC 7350), which answers no plain STUN, so it is left as configured.
  const transport: ProbeTarget['transport'] =
    m[4] === 'tcp' || (scheme === 'turns' && m[4] === undefined) ? 'tcp' : 'udp';
  const target = scheme === 'turns' && transport === 'udp' ? null : { transport, host, port };
  return { ok: true, spec: { url, scheme, region, weight, target } };
}

/** Key of a probe target, so entries that share one (turn: and stun: on one port) share one probe. */
export function targetKey(t: ProbeTarget): string {
  return `${t.transport}:${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}
