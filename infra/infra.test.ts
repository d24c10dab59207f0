/**
 * infra/ cannot drift from the code: every manifest parses, and the ports, paths and environment
 * variable names it uses are the ones the code reads.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { signalingEnv, signalingEnvDocs } from '../signaling/config.js';
import { WS_PATH } from '../signaling/server.js';
import { loadTurnConfig, turnEnvDocs } from '../turn/config.js';
import { ROOT } from '../test-support/processes.js';
import { nginxConfig } from '../test-support/nginx.js';

const known = new Set([...signalingEnvDocs().map((d) => d.key), ...turnEnvDocs.map((d) => d.key)]);
const defaultPort = Number(signalingEnv.PORT.default);
const read = (path: string) => readFileSync(join(ROOT, 'infra', path), 'utf8');

type Obj = Record<string, unknown>;
const docs = (path: string): Obj[] =>
  parseAllDocuments(read(path), { merge: true }).map((d) => {
    expect(d.errors, `${path} parses`).toEqual([]);
    return d.toJS() as Obj;
  });

/** Every `name:` of an env entry, every key of a ConfigMap/Secret, and every compose environment key. */
function envNames(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => envNames(n, out));
  else if (node && typeof node === 'object') {
    const o = node as Obj;
    if (Array.isArray(o.env)) for (const e of o.env as Obj[]) out.add(String(e.name));
    if (o.environment && typeof o.environment === 'object')
      Object.keys(o.environment).forEach((k) => out.add(k));
    if ((o.kind === 'ConfigMap' || o.kind === 'Secret') && (o.data || o.stringData)) {
      Object.keys((o.data ?? o.stringData) as Obj).forEach((k) => out.add(k));
    }
    Object.values(o).forEach((v) => envNames(v, out));
  }
  return out;
}

describe('infra matches the code', () => {
  const k8s = readdirSync(join(ROOT, 'infra/k8s')).filter((f) => f.endsWith('.yaml'));

  it('Kubernetes manifests parse and use only environment variables the code reads', () => {
    expect(k8s.length).toBeGreaterThan(0);
    for (const file of k8s) {
      for (const name of envNames(docs(`k8s/${file}`))) expect(known, `${file}: ${name}`).toContain(name);
    }
  });

  it('the signaling Deployment probes the real paths on the configured port and drains within its grace period', () => {
    const [, config, deployment] = docs('k8s/signaling.yaml') as [Obj, Obj, Obj];
    const data = config.data as Record<string, string>;
    const pod = (deployment.spec as Obj).template as Obj;
    const spec = pod.spec as Obj;
    const container = (spec.containers as Obj[])[0]!;
    const port = ((container.ports as Obj[])[0] as { containerPort: number }).containerPort;
    expect(port).toBe(Number(data.PORT ?? defaultPort));
    expect((container.readinessProbe as { httpGet: { path: string } }).httpGet.path).toBe('/readyz');
    expect((container.livenessProbe as { httpGet: { path: string } }).httpGet.path).toBe('/healthz');
    expect(Number(spec.terminationGracePeriodSeconds) * 1000).toBeGreaterThan(
      Number(data.DRAIN_TIMEOUT_MS) + 3000,
    );
    expect(docs('k8s/signaling.yaml').some((d) => d.kind === 'PodDisruptionBudget')).toBe(true);
  });

  it('the relay DaemonSet uses host networking and a UDP port range', () => {
    const [relay] = docs('k8s/relay.yaml') as [Obj];
    const spec = ((relay.spec as Obj).template as Obj).spec as Obj;
    expect(spec.hostNetwork).toBe(true);
    const env = Object.fromEntries(
      ((spec.containers as Obj[])[0]!.env as Obj[]).map((e) => [e.name, e.value]),
    );
    expect(Number(env.TURN_MIN_PORT)).toBeLessThan(Number(env.TURN_MAX_PORT));
  });

  it('compose uses only known variables, and its nginx config is the shipped one with other upstreams', () => {
    for (const name of envNames(docs('compose/compose.yaml')))
      expect(known, `compose: ${name}`).toContain(name);
    const composeNginx = read('compose/nginx-upstreams.conf').replace(/server signaling-\d:\d+/g, 'server X');
    expect(composeNginx).toBe(read('nginx/signaling.conf').replace(/server 127\.0\.0\.1:\d+/g, 'server X'));
  });

  it('nginx proxies the WebSocket path the server serves, and the test template really changes the upstreams', () => {
    expect(read('nginx/signaling.conf')).toContain(`location ${WS_PATH} {`);
    const templated = nginxConfig(1111, [2222, 3333]);
    expect(templated).toContain('listen 127.0.0.1:1111;');
    expect(templated).toContain('server 127.0.0.1:2222');
    expect(templated).toContain('server 127.0.0.1:3333');
    expect(templated).not.toContain(':8081');
  });

  it('the container image runs the entry point and exposes the default ports', () => {
    const dockerfile = read('docker/Dockerfile');
    expect(dockerfile).toContain('dist/signaling/main.js');
    const turn = loadTurnConfig({});
    expect(dockerfile).toContain(
      `EXPOSE ${defaultPort} ${turn.port}/udp ${turn.port}/tcp ${turn.tlsPort ?? ''}/tcp`,
    );
  });
});
