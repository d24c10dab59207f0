/** The standalone relay as a real process: refuses to start without secrets, serves health, stops cleanly. */
import { describe, expect, it } from 'vitest';
import { freeTcpPort, freeUdpPort, startScript } from '../test-support/processes.js';
import { TurnClient } from '../test-support/turn-client.js';
import { mintTurnCredential } from './credentials/rest-credentials.js';

describe('turn/main', () => {
  it('exits non-zero naming TURN_SECRETS when none is set', async () => {
    const p = startScript('turn/main.ts', [], {});
    expect((await p.exited).code).toBe(2);
    expect(p.output()).toContain('configuration error: TURN_SECRETS');
  });

  it('relays with /healthz and /metrics and exits 0 on SIGTERM with an allocation open', async () => {
    const metricsPort = await freeTcpPort();
    const port = await freeUdpPort();
    const p = startScript('turn/main.ts', [], {
      TURN_SECRETS: 's1,s2',
      TURN_PORT: String(port),
      TURN_TLS_PORT: '0',

      TURN_METRICS_PORT: String(metricsPort),
    });
    try {
      await p.waitFor(/relay started/);
      const cred = mintTurnCredential({ secret: 's2', userId: 'op', ttlSeconds: 60 });
      const client = await TurnClient.connect({ host: '127.0.0.1', port }, cred.username, cred.credential);
      expect((await client.allocate()).code).toBe(0);
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true, allocations: 1 });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain('process_cpu');
      expect(metrics).toMatch(/^turn_allocations_active\{transport="udp"\} 1$/m);
      expect(metrics).toMatch(/^turn_allocate_total\{result="success"\} 1$/m);
      expect(metrics).toMatch(/^turn_allocate_total\{result="401"\} 1$/m);
      await client.close();
      p.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    } finally {
      p.kill('SIGKILL');
    }
  });
});
