/**
 * `npm run dashboard`: writes `relay-platform.json` from `panels.ts`, then draws `dashboard.png` for the
 * operator guide from a real run. It starts `npm start`'s entry point (signaling plus the bundled relay,
 * with one more relay configured that is down, so the health panel has both states), drives real SDK
 * peers in this process (direct and relay-only pairs, data, telemetry on, one refused token now and then)
 * for RUN_S seconds, scrapes /metrics every second, evaluates each panel's expression over the scrapes
 * (`evaluate.ts`) and draws the panels as SVG in headless Chromium. Not Grafana: said so on the picture.
 */
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { connect, reportCallSetup, type Room } from '../../sdk/index.js';
import { PANELS, grafanaDashboard } from './panels.js';
import { evaluate, parseExposition, type Scrape, type Series } from './evaluate.js';
import {
  ROOT,
  SIGNALING_STARTED,
  freeTcpPort,
  freeUdpPort,
  startScript,
} from '../../test-support/processes.js';

const RUN_S = Number(process.env.DASHBOARD_RUN_S ?? 70);
const WINDOW_S = 15;
const HERE = join(ROOT, 'infra/grafana');

async function main(): Promise<void> {
  writeFileSync(join(HERE, 'relay-platform.json'), `${JSON.stringify(grafanaDashboard(), null, 2)}\n`);
  const port = await freeTcpPort();
  const deadRelay = await freeUdpPort();
  const app = startScript('signaling/main.ts', [], {
    PORT: String(port),
    HOST: '127.0.0.1',
    TURN_PORT: String(await freeUdpPort()),
    TURN_TLS_PORT: '0',
    TURN_EMBEDDED_REGION: 'eu',
    TURN_SERVERS: `turn:127.0.0.1:${deadRelay}?transport=udp;region=us`,
    TURN_PROBE_INTERVAL_MS: '1000',
    TURN_PROBE_TIMEOUT_MS: '500',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await app.waitFor(SIGNALING_STARTED, 60_000);
    const scrapes: Scrape[] = [];
    const started = performance.now();
    const scraper = setInterval(() => {
      const t = (performance.now() - started) / 1000;
      void fetch(`${base}/metrics`)
        .then((r) => r.text())
        .then((text) => scrapes.push(parseExposition(text, t)))
        .catch(() => {});
    }, 1000);
    let n = 0;
    const lanes = [0, 1].map(async (lane) => {
      while (performance.now() - started < (RUN_S - 5) * 1000)
        await onePair(base, `${lane}-${n++}`, n % 3 === 0);
    });
    await Promise.all(lanes);
    await new Promise((r) => setTimeout(r, 5000));
    clearInterval(scraper);
    scrapes.sort((a, b) => a.t - b.t);
    await draw(scrapes);
  } finally {
    app.kill('SIGTERM');
    await app.exited;
  }
}

async function token(base: string, room: string, user: string): Promise<string> {
  const r = await fetch(`${base}/dev/token?room=${room}&user=${user}`);
  return ((await r.json()) as { token: string }).token;
}

/** Two SDK peers meet, exchange data for a few seconds and leave; relay-only when `relay`. */
async function onePair(base: string, id: string, relay: boolean): Promise<void> {
  const room = `dash-${id}`;
  const rooms: Room[] = [];
  try {
    for (const [user, region] of [
      ['a', 'eu'],
      ['b', relay ? 'eu' : 'us'],
    ] as const) {
      const t = await token(base, room, `${user}${id}`);
      const r = await connect({
        url: `${base.replace('http', 'ws')}/v1/ws?region=${region}`,
        token: t,
        room,
        ...(relay ? { iceTransportPolicy: 'relay' as const } : {}),
      });
      reportCallSetup(r, { baseUrl: base, token: () => t, region });
      rooms.push(r);
    }
    // A refused upgrade now and then, as a client with a stale token would make.
    await refusedUpgrade(base);
    const [a, b] = rooms as [Room, Room];
    const until = performance.now() + 6000;
    while (performance.now() < until) {
      a.send('x'.repeat(800), { to: b.peerId });
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    process.stderr.write(`pair ${id}: ${String(err)}\n`);
  } finally {
    await Promise.all(rooms.map((r) => r.close()));
  }
}

/** An upgrade with a bad token: signaling answers 401 before any WebSocket exists. */
function refusedUpgrade(base: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${base}/v1/ws?token=stale`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve();
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve();
    });
    req.on('error', () => resolve());
    req.end();
  });
}

const COLORS = ['#73bf69', '#f2cc0c', '#5794f2', '#ff9830', '#f2495c', '#b877d9', '#8ab8ff', '#ffb357'];

function fmt(v: number, unit: string): string {
  if (unit === 'percentunit') return `${Math.round(v * 100)}%`;
  if (unit === 's') return v < 1 ? `${+(v * 1000).toPrecision(2)} ms` : `${+v.toPrecision(2)} s`;
  if (unit === 'Bps') return v >= 1e3 ? `${+(v / 1e3).toPrecision(3)} kB/s` : `${+v.toPrecision(2)} B/s`;
  if (unit === 'ops') return `${+v.toPrecision(2)}/s`;
  return String(Math.round(v * 100) / 100);
}

function svg(series: Series, unit: string, tMax: number): string {
  const W = 560;
  const H = 170;
  const all = [...series.values()].flat();
  const yMax = Math.max(unit === 'percentunit' ? 1 : 0, ...all.map(([, v]) => v)) * 1.1 || 1;
  const x = (t: number) => 50 + (t / tMax) * (W - 60);
  const y = (v: number) => H - 20 - (v / yMax) * (H - 30);
  const grid = [0, 0.5, 1]
    .map(
      (f) =>
        `<line x1="50" x2="${W - 10}" y1="${y(f * yMax)}" y2="${y(f * yMax)}" stroke="#2c3235"/>` +
        `<text x="44" y="${y(f * yMax) + 4}" text-anchor="end">${fmt(f * yMax, unit)}</text>`,
    )
    .join('');
  const lines = [...series.entries()]
    .map(([, points], i) => {
      const d = points.map(([t, v], j) => `${j ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join('');
      return `<path d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]!}" stroke-width="2"/>`;
    })
    .join('');
  return `<svg width="${W}" height="${H}">${grid}<text x="${W - 10}" y="${H - 4}" text-anchor="end">${Math.round(tMax)} s</text>${lines}</svg>`;
}

async function draw(scrapes: Scrape[]): Promise<void> {
  const tMax = scrapes.at(-1)?.t ?? 1;
  const panels = PANELS.map((p) => {
    const series: Series = new Map();
    for (const q of p.queries)
      for (const [k, v] of evaluate(q.expr, q.legend, scrapes, WINDOW_S)) series.set(k, v);
    const legend = [...series.entries()]
      .map(
        ([k, pts], i) =>
          `<span><i style="background:${COLORS[i % COLORS.length]!}"></i>${k} ${fmt(pts.at(-1)?.[1] ?? NaN, p.unit)}</span>`,
      )
      .join('');
    return `<div class="panel"><h2>${p.title}</h2>${series.size ? svg(series, p.unit, tMax) : '<p class="empty">no data</p>'}<div class="legend">${legend}</div></div>`;
  }).join('');
  const html = `<!doctype html><html><head><style>
    body{background:#111217;color:#ccccdc;font:12px sans-serif;margin:0;padding:12px;width:1180px}
    h1{font-size:16px;margin:4px 4px 2px} p.note{margin:0 4px 10px;color:#8e8e9e}
    .grid{display:grid;grid-template-columns:1fr 1fr;gap:8px}
    .panel{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:6px 8px}
    h2{font-size:13px;margin:0 0 4px;font-weight:500} svg text{fill:#8e8e9e;font-size:10px}
    .legend span{margin-right:12px;white-space:nowrap} .legend i{display:inline-block;width:10px;height:3px;margin-right:4px;vertical-align:middle}
    .empty{height:170px;margin:0;display:flex;align-items:center;justify-content:center;color:#6e6e7e}
  </style></head><body><h1>relay-platform: the dashboard's panels from a real run</h1>
  <p class="note">Not Grafana: ${scrapes.length} scrapes of a real npm start (signaling + bundled relay, one more relay configured and down) while real SDK peers
  joined, relayed and left for ${Math.round(tMax)} s; each panel's PromQL evaluated by infra/grafana/evaluate.ts with ${WINDOW_S} s rate windows. ${new Date().toISOString().slice(0, 10)}.</p>
  <div class="grid">${panels}</div></body></html>`;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1204, height: 800 } });
    await page.setContent(html);
    await page.screenshot({ path: join(HERE, 'dashboard.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  process.stdout.write(`wrote ${join(HERE, 'dashboard.png')} from ${scrapes.length} scrapes\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
