/**
 * The relay registry end to end, on loopback: signaling with the bundled relay, a second bundled relay
 * configured as an external one, a port that answers nothing, and coturn when it is installed. The silent
 * relay leaves the lists handed out (welcome and POST /v1/turn-credentials) and comes back once a real
 * relay answers on its port; each client's region comes first.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { IceServer } from './protocol/index.js';
import { loadTurnConfig } from '../turn/config.js';
import { startRelay } from '../turn/relay/start-relay.js';
import type { Relay } from '../turn/relay/relay.js';
import { startCoturn, type Coturn } from '../test-support/sdk-coturn.js';
import { startSignaling, TEST_TURN_SECRET, type RunningSignaling } from '../test-support/signaling.js';
import { findTool } from '../test-support/tools.js';
import { TestClient } from '../test-support/ws-client.js';

const relayOn = (port: number) =>
  startRelay({
    ...loadTurnConfig({ TURN_PORT: String(port), TURN_TLS_PORT: '0' }),
    secrets: [TEST_TURN_SECRET],
  });

/** A UDP port on loopback that reads everything and answers nothing: a relay that is down. */
async function silentPort(): Promise<Socket> {
  const socket = createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return socket;
}

const turnUrl = (port: number, transport = 'udp') => `turn:127.0.0.1:${port}?transport=${transport}`;
const urlsOf = (servers: IceServer[]) => servers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
/** Generous: probes run every 500 ms, but two busy cores may be slow; the wait is bounded either way. */
const POLL = { timeout: 15_000, interval: 50 };

let sig: RunningSignaling | undefined;
const relays: Relay[] = [];
const clients: TestClient[] = [];
let silent: Socket | undefined;
let coturn: Coturn | null = null;
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sig?.close();
  await Promise.all(relays.splice(0).map((r) => r.close()));
  await coturn?.stop();
  if (silent) await new Promise<void>((resolve) => silent!.close(() => resolve()));
  sig = undefined;
  coturn = null;
  silent = undefined;
});

describe('relay registry', () => {
  it('drops a silent relay from welcome and credentials, restores it when it answers, orders by region', async () => {
    const bundled = await relayOn(0);
    const eu = await relayOn(0);
    relays.push(bundled, eu);
    silent = await silentPort();
    const deadPort = silent.address().port;
    if (findTool('turnserver') !== null || process.env.CI !== undefined) coturn = await startCoturn();
    const servers = [
      `${turnUrl(eu.address.port)};region=eu`,
      `${turnUrl(deadPort)};region=eu;weight=5`,
      ...(coturn ? [`${coturn.url};region=ap`] : []),
    ];
    sig = await startSignaling(
      {
        TURN_SERVERS: servers.join(','),
        TURN_EMBEDDED_REGION: 'us',
        TURN_PROBE_INTERVAL_MS: '500',
        TURN_PROBE_TIMEOUT_MS: '400',
        TURN_PROBE_FAILURES: '2',
      },
      { embeddedRelay: bundled.address },
    );
    const s = sig;
    const bundledTurn = turnUrl(bundled.address.port);
    const credentials = async (user: string, region?: string) => {
      const res = await fetch(`${s.httpUrl}/v1/turn-credentials${region ? `?region=${region}` : ''}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token(user, ['r'])}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { username: string; uris: string[]; iceServers: IceServer[] };
    };
    const welcome = async (user: string, region: string) => {
      // The token goes in the subprotocol, so the URL keeps just the region hint.
      const c = await TestClient.connect(`${s.wsUrl}?region=${region}`, {
        token: s.token(user, ['r']),
        tokenInProtocol: true,
      });
      clients.push(c);
      return c.join('r');
    };
    const healthMetric = async (port: number) => {
      const text = await (await fetch(`${s.httpUrl}/metrics`)).text();
      const escaped = turnUrl(port).replace(/[?.]/g, '\\$&');
      return new RegExp(`signaling_relay_healthy\\{relay="${escaped}",region="eu"[^}]*\\} (\\d)`).exec(
        text,
      )?.[1];
    };

    // The silent relay is handed out until its probes fail, then left out everywhere.
    await expect
      .poll(async () => (await credentials('alice', 'eu')).uris, POLL)
      .not.toContain(turnUrl(deadPort));
    expect(await healthMetric(deadPort)).toBe('0');
    expect(await healthMetric(eu.address.port)).toBe('1');

    // Region first: eu gets the eu relay, us the bundled one, ap coturn; the others follow.
    const forEu = await welcome('alice', 'eu');
    expect(urlsOf(forEu.iceServers)[0]).toBe(turnUrl(eu.address.port));
    expect(urlsOf(forEu.iceServers)).toContain(bundledTurn);
    expect(urlsOf(forEu.iceServers)).not.toContain(turnUrl(deadPort));
    const forUs = await welcome('bob', 'us');
    // The bundled relay's every transport, in the order a client should prefer them.
    expect(urlsOf(forUs.iceServers).slice(0, 3)).toEqual([
      `stun:127.0.0.1:${bundled.address.port}`,
      bundledTurn,
      turnUrl(bundled.address.port, 'tcp'),
    ]);
    expect(urlsOf(forUs.iceServers)).toContain(turnUrl(eu.address.port));
    if (coturn) {
      expect((await credentials('carol', 'ap')).uris[0]).toBe(coturn.url);
      expect((await credentials('carol', 'eu')).uris).toContain(coturn.url); // healthy: handed out
    }
    // Credentials are minted for each peer's own user id.
    const turnOf = (servers: IceServer[]) => servers.find((x) => x.username !== undefined)?.username;
    expect(turnOf(forEu.iceServers)).toMatch(/^\d+:alice:/);
    expect(turnOf(forUs.iceServers)).toMatch(/^\d+:bob:/);

    // The relay comes up on the silent port: one answered probe brings it back, first in eu (weight 5).
    const port = deadPort;
    await new Promise<void>((resolve) => silent!.close(() => resolve()));
    silent = undefined;
    relays.push(await relayOn(port));
    await expect.poll(async () => (await credentials('alice', 'eu')).uris[0], POLL).toBe(turnUrl(port));
    expect(await healthMetric(port)).toBe('1');
    expect(urlsOf((await welcome('dave', 'eu')).iceServers).slice(0, 2)).toEqual([
      turnUrl(port),
      turnUrl(eu.address.port),
    ]);
  }, 60_000);
});
