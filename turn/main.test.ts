/** The standalone relay as a real process: refuses to start without secrets, serves health, stops cleanly. */
import { describe, expect, it } from 'vitest';
import { freeTcpPort, freeUdpPort, startScript } from '../test-support/processes.js';

describe('turn/main', () => {
  it('exits non-zero naming TURN_SECRETS when none is set', async () => {
    const p = startScript('turn/main.ts', [], {});
    expect((await p.exited).code).toBe(2);
    expect(p.output()).toContain('configuration error: TURN_SECRETS');
  });

  it('runs with /healthz and /metrics and exits 0 on SIGTERM', async () => {
    const metricsPort = await freeTcpPort();
    const p = startScript('turn/main.ts', [], {
      TURN_SECRETS: 's1,s2',
      TURN_PORT: String(await freeUdpPort()),
      TURN_HOST: '127.0.0.1',
      TURN_METRICS_PORT: String(metricsPort),
    });
    try {
      await p.waitFor(/relay started/);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain('process_cpu');
      p.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    } finally {
      p.kill('SIGKILL');
    }
  });
});
