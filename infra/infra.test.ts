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
import { turnEnvDocs } from '../turn/config.js';
import { parseRelaySpec } from '../turn/fleet/relay-spec.js';
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
    const [config, deployment] = docs('k8s/signaling.yaml') as [Obj, Obj];
    const data = config.data as Record<string, string>;
    const pod = (deployment.spec as Obj).template as Obj;
    const spec = pod.spec as Obj;
    const container = (spec.containers as Obj[])[0]!;
    const port = ((container.ports as Obj[])[0] as { containerPort: number }).containerPort;
    expect(port).toBe(Number(data.PORT ?? defaultPort));
    // /metrics on its own port, declared on the pod and left out of the Service.
    const metrics = (container.ports as Array<{ name: string; containerPort: number }>).find(
      (p) => p.name === 'metrics',
    );
    expect(metrics?.containerPort).toBe(Number(data.METRICS_PORT));
    const service = docs('k8s/signaling.yaml').find((d) => d.kind === 'Service')!;
    expect(JSON.stringify(service)).not.toContain('metrics');
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

  it('keeps secrets out of the repository: every secret comes from a Secret the operator creates', () => {
    for (const file of ['redis.yaml', 'signaling.yaml', 'relay.yaml'])
      for (const d of docs(`k8s/${file}`)) expect(d.kind, file).not.toBe('Secret');
    const signaling = JSON.stringify(docs('k8s/signaling.yaml'));
    expect(signaling).toContain('"secretRef":{"name":"relay-platform-secrets"}');
    expect(JSON.stringify(docs('k8s/relay.yaml'))).toContain('"secretKeyRef"');
  });

  it('every relay URL signaling hands out exists on the relay DaemonSet: UDP, TCP and TLS on its ports', () => {
    const [config] = docs('k8s/signaling.yaml') as [Obj];
    const urls = ((config.data as Record<string, string>).TURN_SERVERS ?? '').split(',');
    const [relay] = docs('k8s/relay.yaml') as [Obj];
    const container = (((relay.spec as Obj).template as Obj).spec as { containers: Obj[] }).containers[0]!;
    const env = Object.fromEntries(
      (container.env as Array<{ name: string; value?: string; valueFrom?: Obj }>).map((e) => [e.name, e]),
    );
    const value = (k: string) => (env[k] as { value?: string } | undefined)?.value;
    expect(value('NODE_ENV')).toBe('production');
    const ports = container.ports as Array<{ name: string; containerPort: number; protocol: string }>;
    const served = new Set(ports.map((p) => `${p.protocol.toLowerCase()}:${p.containerPort}`));
    expect(served).toContain(`udp:${value('TURN_PORT')}`);
    expect(served).toContain(`tcp:${value('TURN_PORT')}`);
    expect(served).toContain(`tcp:${value('TURN_METRICS_PORT')}`);
    const transports = new Set<string>();
    for (const url of urls) {
      const parsed = parseRelaySpec(url);
      expect(parsed.ok, url).toBe(true);
      const m = /^(turns?):[^:]+:(\d+)\?transport=(udp|tcp)$/.exec(url);
      expect(m, url).not.toBeNull();
      const [, scheme, port, transport] = m!;
      if (scheme === 'turns') {
        // TLS exists only with a certificate: in production the relay turns TLS off without one.
        expect(value('TURN_TLS_CERT_FILE'), url).toBeDefined();
        expect(port).toBe(value('TURN_TLS_PORT'));
        expect(served).toContain(`tcp:${port}`);
        transports.add('tls');
      } else {
        expect(port).toBe(value('TURN_PORT'));
        transports.add(transport!);
      }
    }
    expect([...transports].sort()).toEqual(['tcp', 'tls', 'udp']);
    // Probes reach the metrics port by a name the container declares.
    for (const probe of ['readinessProbe', 'livenessProbe']) {
      const get = (container[probe] as { httpGet: { path: string; port: string } }).httpGet;
      expect(get.path).toBe('/healthz');
      expect(ports.find((p) => p.name === get.port)?.containerPort).toBe(Number(value('TURN_METRICS_PORT')));
    }
    // The public address from configuration (public/private pairs), never the node's internal IP.
    expect(JSON.stringify(env.TURN_EXTERNAL_IP)).toContain('configMapKeyRef');
    expect(JSON.stringify(env.TURN_METRICS_HOST)).toContain('status.hostIP');
  });

  it('compose hands out only what its coturn serves', () => {
    const conf = read('coturn/turnserver.conf');
    const setting = (k: string) => new RegExp(`^${k}(=(.*))?$`, 'm').exec(conf);
    const port = setting('listening-port')?.[2] ?? '3478';
    const signaling = docs('compose/compose.yaml')[0]!.services as Record<string, { environment?: Obj }>;
    // ${VAR:-default} as compose expands it with nothing set.
    const urls = String(signaling['signaling-1']!.environment!.TURN_SERVERS)
      .replace(/\$\{\w+:-([^}]*)\}/g, '$1')
      .split(',');
    expect(urls.length).toBeGreaterThan(0);
    for (const url of urls) {
      const m = /^(turns?):[^:]+:(\d+)\?transport=(udp|tcp)$/.exec(url);
      expect(m, url).not.toBeNull();
      if (m![1] === 'turns') {
        expect(setting('cert'), url).not.toBeNull();
        expect(m![2]).toBe(setting('tls-listening-port')?.[2] ?? '5349');
      } else {
        expect(m![2]).toBe(port);
        if (m![3] === 'tcp') expect(setting('no-tcp'), url).toBeNull();
        if (m![3] === 'udp') expect(setting('no-udp'), url).toBeNull();
      }
    }
  });

  it('nginx never forwards /metrics to the internet', () => {
    for (const file of ['nginx/signaling.conf', 'compose/nginx-upstreams.conf'])
      expect(read(file)).toMatch(/location = \/metrics \{\s*return 404;\s*\}/);
  });

  it('the kustomize overlays build on the base and patch only what it has', () => {
    const base = docs('k8s/kustomization.yaml')[0] as { resources: string[] };
    const all = base.resources.flatMap((r) => docs(`k8s/${r}`));
    for (const overlay of ['dev', 'production']) {
      const k = docs(`k8s/overlays/${overlay}/kustomization.yaml`)[0] as {
        resources: string[];
        patches?: Array<{ target: { kind: string; name: string } }>;
        images?: Array<{ name: string }>;
      };
      expect(k.resources).toEqual(['../..']);
      for (const { target } of k.patches ?? [])
        expect(
          all.some((d) => d.kind === target.kind && (d.metadata as Obj).name === target.name),
          `${overlay}: ${target.kind}/${target.name}`,
        ).toBe(true);
      const images = JSON.stringify(all);
      for (const { name } of k.images ?? [])
        expect(images, `${overlay}: image ${name}`).toContain(`"image":"${name}:`);
    }
  });
});
