/** The shared env loader: errors name the variable and the value, secrets stay hidden, origins are origins. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, envDocs, envKey, formatHelp, loadEnvTable, origins, port } from './env-table.js';
import { requireRealSecrets } from './secret-policy.js';
import { listenFailure } from './listen-errors.js';

const table = {
  PORT: envKey(port, 'a port', { default: '8080' }),
  ORIGINS: envKey(origins, 'origins'),
  SECRET: envKey(z.string().min(32, 'must be at least 32 characters'), 'a secret', { secret: true }),
  NAMED: envKey(z.string(), 'named default', { defaultText: 'the hostname' }),
};

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadEnvTable(table, env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('env table', () => {
  it('applies defaults and leaves unset keys undefined', () => {
    expect(loadEnvTable(table, {})).toEqual({
      PORT: 8080,
      ORIGINS: undefined,
      SECRET: undefined,
      NAMED: undefined,
    });
    expect(loadEnvTable(table, { PORT: '' }).PORT).toBe(8080);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT', '"abc"'],
    [{ PORT: '70000' }, 'PORT', '"70000"'],
    [{ PORT: '8.5' }, 'PORT', '"8.5"'],
    [{ ORIGINS: 'foo' }, 'ORIGINS', '"foo" is not an origin'],
    [{ ORIGINS: 'https://app.example.com/path' }, 'ORIGINS', 'is not an origin'],
    [{ ORIGINS: 'https://app.example.com, ftp://x' }, 'ORIGINS', '"ftp://x"'],
  ])('refuses %j naming %s and the value', (env, key, shown) => {
    const err = errorOf(env);
    expect(err.key).toBe(key);
    expect(err.message).toContain(shown);
  });

  it('accepts real origins and *', () => {
    expect(
      loadEnvTable(table, { ORIGINS: 'https://app.example.com, http://localhost:5173,*' }).ORIGINS,
    ).toEqual(['https://app.example.com', 'http://localhost:5173', '*']);
  });

  it('gives a secret by its length, never its value', () => {
    const err = errorOf({ SECRET: 'hunter2' });
    expect(err.key).toBe('SECRET');
    expect(err.message).toContain('7 characters');
    expect(err.message).not.toContain('hunter2');
  });

  it('--help shows a default only where there is one, in words where it is not one value', () => {
    const text = formatHelp(['usage'], envDocs(table));
    expect(text).toMatch(/PORT\s+a port\n\s+default: 8080/);
    expect(text).toMatch(/NAMED\s+named default\n\s+default: the hostname/);
    expect(text).toMatch(/ORIGINS\s+origins\n\s+SECRET/);
    expect(text).not.toContain('(unset)');
  });

  it.each([
    ['change-me-turn-secret', 'placeholder'],
    ['x', 'is 1 characters'],
    ['aaaaaaaaaaaaaaaaaaaaaa', 'repeats'],
  ])('refuses the production secret %s (%s), and accepts it elsewhere', (value, reason) => {
    expect(() => requireRealSecrets('TURN_SECRETS', [value], 16, true)).toThrow(reason);
    expect(() => requireRealSecrets('TURN_SECRETS', [value], 16, false)).not.toThrow();
    expect(() => requireRealSecrets('TURN_SECRETS', ['pU8c1Jx0qLw3ZrT5'], 16, true)).not.toThrow();
  });

  it('names the variable of a port in use, with the hint for its usual holder', () => {
    const err = Object.assign(new Error('bind'), { code: 'EADDRINUSE', port: 3478, address: '0.0.0.0' });
    const named = listenFailure(err, [
      { key: 'PORT', port: 8080 },
      { key: 'TURN_PORT', port: 3478, hint: 'coturn?' },
    ]);
    expect(named?.key).toBe('TURN_PORT');
    expect(named?.message).toBe(
      'TURN_PORT: 0.0.0.0:3478 is already in use by another process; set TURN_PORT to a free port. coturn?',
    );
    expect(listenFailure(new Error('other'), [{ key: 'PORT', port: 1 }])).toBeNull();
  });
});
