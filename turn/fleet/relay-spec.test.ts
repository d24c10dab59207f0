/** TURN_SERVERS entries: plain URLs as before, registry parameters after `;`, and refusals with a reason. */
import { describe, expect, it } from 'vitest';
import { parseRelaySpec, targetKey } from './relay-spec.js';

const spec = (entry: string) => {
  const r = parseRelaySpec(entry);
  if (!r.ok) throw new Error(r.reason);
  return r.spec;
};

describe('parseRelaySpec', () => {
  it('reads a plain URL as before: no region, weight 1, probed where clients connect', () => {
    expect(spec('turn:127.0.0.1:3479?transport=udp')).toEqual({
      url: 'turn:127.0.0.1:3479?transport=udp',
      scheme: 'turn',
      region: undefined,
      weight: 1,
      target: { transport: 'udp', host: '127.0.0.1', port: 3479 },
    });
    // Default ports (RFC 7064 §3.1, RFC 7065 §3.1) and transports (RFC 7065 §3).
    expect(spec('stun:stun.example').target).toEqual({ transport: 'udp', host: 'stun.example', port: 3478 });
    expect(spec('turns:turn.example').target).toEqual({ transport: 'tcp', host: 'turn.example', port: 5349 });
    expect(spec('turn:turn.example?transport=tcp').target?.transport).toBe('tcp');
    expect(spec('turn:[::1]:3478').target).toEqual({ transport: 'udp', host: '::1', port: 3478 });
  });

  it('reads region and weight after the URL and strips them from the URL handed out', () => {
    const s = spec('turn:relay-eu.example:3478?transport=udp;region=eu;weight=2');
    expect(s).toMatchObject({ url: 'turn:relay-eu.example:3478?transport=udp', region: 'eu', weight: 2 });
    expect(spec('turn:a.example;weight=0').weight).toBe(0);
  });

  it('leaves turns: over DTLS unprobed', () => {
    expect(spec('turns:turn.example:443?transport=udp').target).toBeNull();
  });

  it.each([
    ['http://relay.example', /not a turn/],
    ['turn:', /not a turn/],
    ['turn:a.example:99999', /bad port/],
    ['turn:user@a.example', /not a turn/],
    ['stun:a.example?transport=tcp', /no transport/],
    ['turn:a.example;region=', /bad region/],
    ['turn:a.example;region=e u', /bad region/],
    ['turn:a.example;weight=-1', /weight/],
    ['turn:a.example;weight=1001', /weight/],
    ['turn:a.example;priority=1', /unknown parameter/],
  ])('refuses %s', (entry, reason) => {
    const r = parseRelaySpec(entry);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('gives entries on one host, port and transport one probe key', () => {
    const a = spec('turn:127.0.0.1:3479?transport=udp').target!;
    const b = spec('stun:127.0.0.1:3479').target!;
    const c = spec('turn:127.0.0.1:3479?transport=tcp').target!;
    expect(targetKey(a)).toBe(targetKey(b));
    expect(targetKey(a)).not.toBe(targetKey(c));
  });
});
