/** Relay registry keys of the signaling config: the TURN_SERVERS format, probe settings, errors naming the key. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadSignalingConfig, signalingEnvDocs } from './config.js';

const load = (env: Record<string, string>) => loadSignalingConfig({ NODE_ENV: 'test', ...env });
function keyOf(env: Record<string, string>): string {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.key;
    throw err;
  }
  return '(accepted)';
}

describe('relay registry config', () => {
  it('keeps plain TURN_SERVERS URLs working and reads region and weight after them', () => {
    const { turn } = load({
      TURN_SERVERS:
        'turn:127.0.0.1:3479?transport=udp, stun:127.0.0.1:3479,turn:relay-eu.example:3478?transport=udp;region=eu;weight=2',
      TURN_EMBEDDED_REGION: 'us',
    });
    expect(turn.servers.map((s) => [s.url, s.region, s.weight])).toEqual([
      ['turn:127.0.0.1:3479?transport=udp', undefined, 1],
      ['stun:127.0.0.1:3479', undefined, 1],
      ['turn:relay-eu.example:3478?transport=udp', 'eu', 2],
    ]);
    expect(turn.embeddedRegion).toBe('us');
    expect(turn.probe).toEqual({ intervalMs: 5000, timeoutMs: 1000, failureThreshold: 2 });
  });

  it.each([
    [{ TURN_SERVERS: 'http://relay.example' }, 'TURN_SERVERS'],
    [{ TURN_SERVERS: 'turn:relay.example;region=eu;colour=red' }, 'TURN_SERVERS'],
    [{ TURN_SERVERS: 'turn:relay.example;weight=heavy' }, 'TURN_SERVERS'],
    [{ TURN_EMBEDDED_REGION: 'e u' }, 'TURN_EMBEDDED_REGION'],
    [{ TURN_PROBE_INTERVAL_MS: 'often' }, 'TURN_PROBE_INTERVAL_MS'],
    [{ TURN_PROBE_INTERVAL_MS: '50' }, 'TURN_PROBE_INTERVAL_MS'],
    [{ TURN_PROBE_INTERVAL_MS: '1000', TURN_PROBE_TIMEOUT_MS: '1000' }, 'TURN_PROBE_TIMEOUT_MS'],
    [{ TURN_PROBE_FAILURES: '0' }, 'TURN_PROBE_FAILURES'],
  ])('refuses %j naming %s', (env, key) => {
    expect(keyOf(env)).toBe(key);
  });

  it('turns probing off with TURN_PROBE_INTERVAL_MS=0, whatever the timeout', () => {
    expect(load({ TURN_PROBE_INTERVAL_MS: '0', TURN_PROBE_TIMEOUT_MS: '5000' }).turn.probe.intervalMs).toBe(
      0,
    );
  });

  it('documents the format and the region hint in --help', () => {
    const doc = signalingEnvDocs().find((d) => d.key === 'TURN_SERVERS')?.description ?? '';
    expect(doc).toContain(';region=');
    expect(doc).toContain('?region=');
    for (const key of [
      'TURN_PROBE_INTERVAL_MS',
      'TURN_PROBE_TIMEOUT_MS',
      'TURN_PROBE_FAILURES',
      'TURN_EMBEDDED_REGION',
    ])
      expect(signalingEnvDocs().map((d) => d.key)).toContain(key);
  });
});

describe('production checks and the metrics listener', () => {
  const prod = {
    NODE_ENV: 'production',
    JWT_SECRET: 'Zq8vN2xK5pW7mR4tY9bC3fH6jL1sD0gA',
    TURN_SECRETS: 'pU8c1Jx0qLw3ZrT5',
  };
  it('puts /metrics on its own port in production, on the public one in development', () => {
    expect(loadSignalingConfig(prod).metrics).toEqual({ port: 9640, host: '0.0.0.0' });
    expect(loadSignalingConfig({ ...prod, METRICS_PORT: '9100', METRICS_HOST: '10.0.0.5' }).metrics).toEqual({
      port: 9100,
      host: '10.0.0.5',
    });
    expect(load({}).metrics.port).toBeNull();
  });

  it.each([
    [{ TURN_SECRETS: 'change-me-turn-secret' }, 'TURN_SECRETS'],
    [{ TURN_SECRETS: 'x' }, 'TURN_SECRETS'],
    [{ JWT_SECRET: 'change-me-to-a-long-random-secret-of-32-chars-or-more' }, 'JWT_SECRET'],
    [{ ALLOWED_ORIGINS: 'app.example.com' }, 'ALLOWED_ORIGINS'],
  ])('refuses %j in production naming %s', (env, key) => {
    expect(() => loadSignalingConfig({ ...prod, ...env })).toThrow(
      expect.objectContaining({ key }) as unknown,
    );
  });
});

describe('Redis bus config', () => {
  it('takes cluster seed nodes as host:port or URLs, and refuses them beside REDIS_URL or malformed', () => {
    expect(
      load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-1.internal:7001,rediss://r2:7002' }).redis,
    ).toEqual({
      clusterNodes: ['10.0.0.1:7000', 'redis-1.internal:7001', 'rediss://r2:7002'],
      prefix: 'rp:',
      presenceTtlMs: 15000,
    });
    expect(load({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis?.url).toBe('redis://127.0.0.1:6379');
    expect(load({}).redis).toBeNull();
    expect(keyOf({ REDIS_CLUSTER_NODES: '10.0.0.1:7000', REDIS_URL: 'redis://127.0.0.1:6379' })).toBe(
      'REDIS_CLUSTER_NODES',
    );
    expect(keyOf({ REDIS_CLUSTER_NODES: '10.0.0.1' })).toBe('REDIS_CLUSTER_NODES');
    expect(keyOf({ REDIS_CLUSTER_NODES: ' , ' })).toBe('REDIS_CLUSTER_NODES');
    expect(signalingEnvDocs().find((d) => d.key === 'REDIS_CLUSTER_NODES')?.description).toMatch(/host:port/);
  });
});
