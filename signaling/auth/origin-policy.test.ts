import { describe, expect, it } from 'vitest';
import { originAllowed } from './origin-policy.js';

describe('originAllowed', () => {
  const dev = { allowed: null, allowLocalhost: true };
  const prod = { allowed: null, allowLocalhost: false };
  it('lets non-browser clients (no Origin) through', () =>
    expect(originAllowed(undefined, 'x:1', prod)).toBe(true));
  it('allows same origin', () =>
    expect(originAllowed('https://app.example', 'app.example', prod)).toBe(true));
  it('refuses another site', () =>
    expect(originAllowed('https://evil.example', 'app.example', prod)).toBe(false));
  it('allows localhost only in development', () => {
    expect(originAllowed('http://localhost:5173', 'app.example', dev)).toBe(true);
    expect(originAllowed('http://127.0.0.1:3000', 'app.example', dev)).toBe(true);
    expect(originAllowed('http://localhost:5173', 'app.example', prod)).toBe(false);
  });
  it('uses an explicit list exactly, with * for any', () => {
    const list = { allowed: ['https://a.example'], allowLocalhost: true };
    expect(originAllowed('https://a.example', 'h', list)).toBe(true);
    expect(originAllowed('https://a.example.evil', 'h', list)).toBe(false);
    expect(originAllowed('http://localhost', 'h', list)).toBe(false);
    expect(originAllowed('https://z.example', 'h', { allowed: ['*'], allowLocalhost: false })).toBe(true);
  });
  it('refuses a malformed Origin', () => expect(originAllowed('null', 'h', prod)).toBe(false));
});
