/**
 * A small internet in Linux network namespaces, built by a test and removed by it: a "public" network on
 * a documentation range (RFC 5737 203.0.113.0/24, standing in for the internet; the relay is told to
 * allow it, while client LANs stay denied as in production), routers with NAT (iptables MASQUERADE;
 * `--random-fully` for a symmetric NAT, plus a DNAT back to the client for a full-cone-ish one) and
 * firewalls, and one client namespace behind each router.
 *
 * Ownership: every namespace this module makes is named `rpm-<pid>-<role>`, with the pid of the test
 * process. Interfaces and iptables rules live only inside those namespaces, so deleting the namespaces
 * removes them all; nothing is added to the host's own namespace. Processes started in a namespace are
 * killed by pid, and whatever else still runs in one of our namespaces (`ip netns pids`) too, before the
 * namespace goes. Cleanup runs from `close()`, at process exit and on SIGINT/SIGTERM; a run killed with
 * SIGKILL leaves namespaces whose pid is dead, which the next run removes (`removeStale`). Only names of
 * that form are ever touched.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { ROOT } from './processes.js';

const PREFIX = 'rpm-';
const NAME = /^rpm-(\d+)-[a-z0-9]+$/;

/** The public network: the bridge in the `pub` namespace, servers on .10, routers from .21. */
export const PUBLIC_NET = '203.0.113';
export const SERVER_IP = `${PUBLIC_NET}.10`;
/** What the relay must be told it may reach (RFC 5737 ranges used as the "internet" here). */
export const PUBLIC_PEERS = '203.0.113.0/24,198.51.100.0/24';

export type Nat = 'full-cone' | 'symmetric';
export type Firewall = 'open' | 'udp-blocked' | { onlyTcpPorts: readonly number[] };

export interface ClientSpec {
  nat: Nat;
  firewall: Firewall;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function inNs(ns: string, cmd: string, ...args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function listNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n.startsWith(PREFIX) && NAME.test(n));
}

/** Kill what runs in one of our namespaces, then delete it. Never throws. */
function removeNamespace(ns: string): void {
  if (!NAME.test(ns)) return; // only ever ours
  try {
    for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    ip('netns', 'del', ns);
  } catch {
    /* already gone */
  }
}

/** Namespaces left by an earlier run that was killed before it could clean up (its pid is dead). */
export function removeStale(): string[] {
  const stale = listNamespaces().filter((ns) => {
    const pid = Number(NAME.exec(ns)?.[1]);
    return pid !== process.pid && !pidAlive(pid);
  });
  for (const ns of stale) removeNamespace(ns);
  return stale;
}

export interface NsProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): void;
}

export class NetLab {
  readonly pub: string;
  private readonly namespaces: string[] = [];
  private readonly procs = new Set<ChildProcess>();
  private clients = 0;
  private closed = false;
  private readonly onSignal = () => {
    this.closeSync();
    process.exit(130);
  };
  private readonly onExit = () => this.closeSync();

  constructor() {
    removeStale();
    process.on('exit', this.onExit);
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    this.pub = this.namespace('pub');
    const sh = (...a: string[]) => inNs(this.pub, ...(a as [string, ...string[]]));
    sh('ip', 'link', 'set', 'lo', 'up');
    sh('ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh('ip', 'addr', 'add', `${SERVER_IP}/24`, 'dev', 'br0');
    sh('ip', 'link', 'set', 'br0', 'up');
  }

  private namespace(role: string): string {
    const ns = `${PREFIX}${process.pid}-${role}`;
    removeNamespace(ns);
    ip('netns', 'add', ns);
    this.namespaces.push(ns);
    return ns;
  }

  /**
   * A client LAN 10.0.N.0/24 behind router N, whose WAN side is 203.0.113.(20+N) on the public bridge.
   * Returns the client's namespace.
   */
  addClient(spec: ClientSpec): string {
    const n = ++this.clients;
    const router = this.namespace(`r${n}`);
    const client = this.namespace(`c${n}`);
    const wanIp = `${PUBLIC_NET}.${20 + n}`;
    const lanNet = `10.0.${n}`;
    // Links are created inside the namespaces, so their names need not be unique on the host.
    ip('-n', this.pub, 'link', 'add', `wan${n}`, 'type', 'veth', 'peer', 'name', 'wan', 'netns', router);
    ip('-n', this.pub, 'link', 'set', `wan${n}`, 'master', 'br0', 'up');
    ip('-n', router, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client);
    const r = (...a: string[]) => inNs(router, ...(a as [string, ...string[]]));
    const c = (...a: string[]) => inNs(client, ...(a as [string, ...string[]]));
    r('ip', 'link', 'set', 'lo', 'up');
    r('ip', 'addr', 'add', `${wanIp}/24`, 'dev', 'wan');
    r('ip', 'link', 'set', 'wan', 'up');
    r('ip', 'addr', 'add', `${lanNet}.1/24`, 'dev', 'lan');
    r('ip', 'link', 'set', 'lan', 'up');
    r('sysctl', '-qw', 'net.ipv4.ip_forward=1');
    c('ip', 'link', 'set', 'lo', 'up');
    c('ip', 'addr', 'add', `${lanNet}.2/24`, 'dev', 'eth0');
    c('ip', 'link', 'set', 'eth0', 'up');
    c('ip', 'route', 'add', 'default', 'via', `${lanNet}.1`);

    const ipt = (...a: string[]) => r('iptables', '-w', ...a);
    // Symmetric: a new random port for every destination. Full-cone-ish: MASQUERADE keeps the client's
    // port when it can, and unsolicited UDP to the router is sent on to the client (endpoint-independent
    // filtering), which Linux conntrack alone would refuse.
    ipt(
      '-t',
      'nat',
      '-A',
      'POSTROUTING',
      '-o',
      'wan',
      '-j',
      'MASQUERADE',
      ...(spec.nat === 'symmetric' ? ['--random-fully'] : []),
    );
    if (spec.nat === 'full-cone') {
      ipt(
        '-t',
        'nat',
        '-A',
        'PREROUTING',
        '-i',
        'wan',
        '-p',
        'udp',
        '-j',
        'DNAT',
        '--to-destination',
        `${lanNet}.2`,
      );
    }
    if (spec.firewall === 'udp-blocked') {
      ipt('-A', 'FORWARD', '-p', 'udp', '-j', 'DROP');
    } else if (typeof spec.firewall === 'object') {
      ipt('-A', 'FORWARD', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT');
      for (const port of spec.firewall.onlyTcpPorts)
        ipt('-A', 'FORWARD', '-i', 'lan', '-p', 'tcp', '--dport', String(port), '-j', 'ACCEPT');
      ipt('-A', 'FORWARD', '-j', 'DROP');
    }
    return client;
  }

  /** Run a project script (tsx) in namespace `ns`; stdio piped, plus an IPC channel when `ipc`. */
  spawnNode(ns: string, script: string, args: string[], env: Record<string, string>, ipc = false): NsProcess {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
      serialization: 'json',
    });
    this.procs.add(child);
    let out = '';
    const listeners = new Set<() => void>();
    const onData = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > 1_000_000) out = out.slice(-500_000); // bounded
      for (const l of listeners) l();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        this.procs.delete(child);
        resolve({ code, signal });
      }),
    );
    return {
      child,
      output: () => out,
      exited,
      kill: (signal = 'SIGTERM') => void child.kill(signal),
      waitFor: (pattern, timeoutMs = 30_000) =>
        new Promise((resolve, reject) => {
          const check = () => {
            const m = out.match(pattern);
            if (!m) return;
            done();
            resolve(m);
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`timed out waiting for ${pattern} in ${ns}; output:\n${out.slice(-4000)}`));
          }, timeoutMs);
          const done = () => {
            clearTimeout(timer);
            listeners.delete(check);
          };
          listeners.add(check);
          check();
        }),
    };
  }

  /** GET a URL from inside the public namespace (the host namespace cannot reach it). */
  fetchText(url: string): string {
    return inNs(
      this.pub,
      process.execPath,
      '-e',
      'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t), () => process.exit(1))',
      url,
    );
  }

  /** Idempotent: kill our processes and delete our namespaces (with their links and rules). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    for (const child of this.procs) child.kill('SIGKILL');
    this.procs.clear();
    for (const ns of this.namespaces.reverse()) removeNamespace(ns);
    process.off('exit', this.onExit);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** Namespaces of this lab still present (for the test's own check that cleanup worked). */
  remaining(): string[] {
    const mine = new Set(this.namespaces);
    return listNamespaces().filter((n) => mine.has(n));
  }
}
