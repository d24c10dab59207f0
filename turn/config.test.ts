/** The relay's own keys: listen addresses, external-ip mappings, TLS, quotas; errors name the key. */
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import {
  ConfigError,
  loadTurnConfig,
  nodeHasReusePort,
  relayListenTargets,
  withDevelopmentDefaults,
} from './config.js';

function keyOf(env: Record<string, string>): string {
  try {
    loadTurnConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.key;
    throw err;
  }
  return '(accepted)';
}

describe('relay config', () => {
  it('defaults to every local address, TLS on 5349 with a development certificate, and a quota of 64', () => {
    const c = loadTurnConfig({});
    expect(c.hosts).toEqual(['0.0.0.0', '::']);
    expect(c).toMatchObject({ port: 3478, tlsPort: 5349, tlsCertFile: undefined, userQuota: 64 });
    expect(c.externalIps).toEqual([]);
  });

  it('reads a list of listen addresses and coturn-style external-ip pairs', () => {
    const c = loadTurnConfig({
      TURN_HOST: '10.0.0.5, ::1',
      TURN_EXTERNAL_IP: '203.0.113.7/10.0.0.5,2001:db8::7',
    });
    expect(c.hosts).toEqual(['10.0.0.5', '::1']);
    expect(c.externalIps).toEqual([
      { external: '203.0.113.7', local: '10.0.0.5' },
      { external: '2001:db8::7', local: undefined },
    ]);
  });

  it('turns TLS off with "off", and in production when no certificate is given', () => {
    expect(loadTurnConfig({ TURN_TLS_PORT: 'off' }).tlsPort).toBeNull();
    expect(loadTurnConfig({ NODE_ENV: 'production' }).tlsPort).toBeNull();
    const withFiles = loadTurnConfig({
      NODE_ENV: 'production',
      TURN_TLS_CERT_FILE: '/etc/relay/tls.crt',
      TURN_TLS_KEY_FILE: '/etc/relay/tls.key',
    });
    expect(withFiles.tlsPort).toBe(5349);
  });

  it.each([
    [{ TURN_HOST: 'eth0' }, 'TURN_HOST'],
    [{ TURN_HOST: ' , ' }, 'TURN_HOST'],
    [{ TURN_EXTERNAL_IP: '203.0.113.7/10.0.0.5/1' }, 'TURN_EXTERNAL_IP'],
    [{ TURN_EXTERNAL_IP: '203.0.113.7/::1' }, 'TURN_EXTERNAL_IP'],
    [{ TURN_TLS_PORT: '70000' }, 'TURN_TLS_PORT'],
    [{ TURN_TLS_PORT: 'on' }, 'TURN_TLS_PORT'],
    [{ TURN_TLS_CERT_FILE: '/etc/relay/tls.crt' }, 'TURN_TLS_KEY_FILE'],
    [{ TURN_TLS_KEY_FILE: '/etc/relay/tls.key' }, 'TURN_TLS_CERT_FILE'],
    [{ TURN_USER_QUOTA: '0' }, 'TURN_USER_QUOTA'],
    [{ TURN_WORKERS: '0' }, 'TURN_WORKERS'],
    [{ TURN_WORKERS: '257' }, 'TURN_WORKERS'],
    [{ TURN_WORKER_MODE: 'reuse-port' }, 'TURN_WORKER_MODE'],
    [{ TURN_MAX_STREAMS_PER_IP: '0' }, 'TURN_MAX_STREAMS_PER_IP'],
    [{ TURN_ROOM_SCOPE: 'yes' }, 'TURN_ROOM_SCOPE'],
    [{ TURN_ROOM_SCOPE_WAIT_MS: '-1' }, 'TURN_ROOM_SCOPE_WAIT_MS'],
    [{ TURN_PORT: 'abc' }, 'TURN_PORT'],
    [{ NODE_ENV: 'production', TURN_SECRETS: 'x' }, 'TURN_SECRETS'],
    [{ NODE_ENV: 'production', TURN_SECRETS: 'pU8c1Jx0qLw3ZrT5,change-me-please-now' }, 'TURN_SECRETS'],
  ])('refuses %j naming %s', (env, key) => {
    expect(keyOf(env)).toBe(key);
  });
});

describe('relay workers', () => {
  it('runs one per core where Node has SO_REUSEPORT, else one, and takes 1 and 256 at the edges', () => {
    const { workers, workerMode } = loadTurnConfig({});
    expect(workers).toBe(nodeHasReusePort() ? availableParallelism() : 1);
    expect(workerMode).toBe('auto');
    expect(loadTurnConfig({ TURN_WORKERS: '1' }).workers).toBe(1);
    expect(loadTurnConfig({ TURN_WORKERS: '256', TURN_WORKER_MODE: 'handoff' })).toMatchObject({
      workers: 256,
      workerMode: 'handoff',
    });
  });
});

describe('the relay development default', () => {
  it('generates a secret and allows private peers outside production, and requires a secret in production', () => {
    const dev = withDevelopmentDefaults(loadTurnConfig({}));
    expect(dev.secretGenerated).toBe(true);
    expect(dev.secrets[0]!.length).toBeGreaterThanOrEqual(16);
    expect(dev.allowedPeers).toContain('127.0.0.0/8');
    const given = withDevelopmentDefaults(loadTurnConfig({ TURN_ALLOWED_PEER_IPS: '10.1.0.0/16' }));
    expect(given.allowedPeers).toEqual(['10.1.0.0/16']);
    expect(() => withDevelopmentDefaults(loadTurnConfig({ NODE_ENV: 'production' }))).toThrow(ConfigError);
    const prod = withDevelopmentDefaults(
      loadTurnConfig({ NODE_ENV: 'production', TURN_SECRETS: 'pU8c1Jx0qLw3ZrT5' }),
    );
    expect(prod.allowedPeers).toEqual([]);
  });
});

describe('a relay port in use', () => {
  it('is named by its variable, and 3478 points at a system coturn', () => {
    const [udp, tls] = relayListenTargets(loadTurnConfig({}), ', or set TURN_EMBEDDED=false');
    expect(udp).toMatchObject({ key: 'TURN_PORT', port: 3478 });
    expect(udp!.hint).toContain('coturn');
    expect(udp!.hint).toContain('TURN_EMBEDDED=false');
    expect(tls).toMatchObject({ key: 'TURN_TLS_PORT', port: 5349 });
    expect(relayListenTargets(loadTurnConfig({ TURN_PORT: '3479' }))[0]!.hint).toBeUndefined();
  });
});
