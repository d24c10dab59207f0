/** The standalone relay as a real process: refuses to start without secrets, serves health, stops cleanly. */
import { describe, expect, it } from 'vitest';
import { freeTcpPort, freeUdpPort, startScript } from '../test-support/processes.js';
import { TurnClient } from '../test-support/turn-client.js';
import { mintTurnCredential } from './credentials/rest-credentials.js';

describe('turn/main', () => {
  it('in production exits 2 naming TURN_SECRETS when none is set, or when one is a placeholder', async () => {
    const none = startScript('turn/main.ts', [], { NODE_ENV: 'production' });
    expect((await none.exited).code).toBe(2);
    expect(none.output()).toContain('configuration error: TURN_SECRETS: required');
    const placeholder = startScript('turn/main.ts', [], {
      NODE_ENV: 'production',
      TURN_SECRETS: 'change-me-turn-secret',
    });
    expect((await placeholder.exited).code).toBe(2);
    expect(placeholder.output()).toContain('configuration error: TURN_SECRETS: looks like a placeholder');
  });

  it('runs the development default with nothing set but ports: a secret generated and printed', async () => {
    const port = await freeUdpPort();
    const p = startScript('turn/main.ts', [], {
      TURN_PORT: String(port),
      TURN_TLS_PORT: '0',
      TURN_METRICS_PORT: String(await freeTcpPort()),
    });
    try {
      const secret = (await p.waitFor(/generated TURN_SECRETS for this run: (\S+)/))[1]!;
      await p.waitFor(/relay started/);
      const cred = mintTurnCredential({ secret, userId: 'dev', ttlSeconds: 60 });
      const client = await TurnClient.connect({ host: '127.0.0.1', port }, cred.username, cred.credential);
      expect((await client.allocate()).code).toBe(0);
      await client.close();
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('a TURN_PORT in use names TURN_PORT and exits 2', async () => {
    const { createSocket } = await import('node:dgram');
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
    try {
      const p = startScript('turn/main.ts', [], {
        TURN_PORT: String(udp.address().port),
        TURN_TLS_PORT: '0',
        TURN_METRICS_PORT: String(await freeTcpPort()),
      });
      expect((await p.exited).code).toBe(2);
      expect(p.output()).toContain(`configuration error: TURN_PORT:`);
      expect(p.output()).toContain('is already in use by another process; set TURN_PORT to a free port');
    } finally {
      udp.close();
    }
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
      // With worker threads (one per core where Node has SO_REUSEPORT) the figures are the workers'
      // reports, summed every 200 ms: they lag the allocation by up to that.
      await expect
        .poll(async () => {
          const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
          return { status: health.status, body: (await health.json()) as unknown };
        })
        .toEqual({ status: 200, body: { ok: true, allocations: 1 } });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain('process_cpu');
      expect(metrics).toMatch(/^turn_allocations_active\{transport="udp"\} 1$/m);
      expect(metrics).toMatch(/^turn_allocate_total\{result="success"\} 1$/m);
      // The first 401 is the challenge every client gets, counted apart from failed credentials.
      expect(metrics).toMatch(/^turn_allocate_total\{result="challenge"\} 1$/m);
      expect(metrics).not.toMatch(/^turn_allocate_total\{result="401"\}/m);
      expect((await client.refresh(0)).code).toBe(0);
      await client.close();
      // The allocation's end is in the lifetime histogram once it is gone.
      await expect
        .poll(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text())
        .toMatch(/^turn_allocation_lifetime_seconds_count 1$/m);
      p.kill('SIGTERM');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    } finally {
      p.kill('SIGKILL');
    }
  });
});
