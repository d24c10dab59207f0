/**
 * The relay on a host with several addresses, as the world runs it: in a network namespace this test
 * makes (loopback plus an interface with two addresses), a client whose socket is on one address
 * contacts the relay on another and must get every answer from the address it contacted, with the
 * relayed address on it too. A plain socket on 0.0.0.0 (the relay's old layout) is probed beside it, to
 * show the namespace really exhibits the fault: its answers leave from the client's side of the route.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../test-support/processes.js';
import { requireTool } from '../../test-support/tools.js';

const ip = requireTool('ip');
const isRoot = process.getuid?.() === 0;
const A = '10.77.0.1';
const B = '10.77.0.2';
const ns = `rpma-${process.pid}-${randomBytes(2).toString('hex')}`;

function run(...args: string[]): void {
  execFileSync(ip!, args, { stdio: 'pipe' });
}

/** Namespaces left by an earlier run of this test that was killed (its process is gone). */
function removeStale(): void {
  const list = spawnSync(ip!, ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const name of list.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    const pid = /^rpma-(\d+)-/.exec(name)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      spawnSync(ip!, ['netns', 'delete', name]);
    }
  }
}

const removeOurs = () => spawnSync(ip!, ['netns', 'delete', ns]);

describe.runIf(ip && (isRoot || process.env.CI))('bundled relay on a multi-address host', () => {
  beforeAll(() => {
    if (!isRoot) throw new Error('network namespaces need root (CI runs as root)');
    removeStale();
    process.once('exit', removeOurs);
    run('netns', 'add', ns);
    run('-n', ns, 'link', 'set', 'lo', 'up');
    // A veth pair with both ends inside (no dummy module in every kernel): two addresses on one end.
    run('-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1');
    run('-n', ns, 'addr', 'add', `${A}/24`, 'dev', 'v0');
    run('-n', ns, 'addr', 'add', `${B}/24`, 'dev', 'v0');
    run('-n', ns, 'link', 'set', 'v0', 'up');
    run('-n', ns, 'link', 'set', 'v1', 'up');
  });

  afterAll(() => {
    removeOurs();
    process.off('exit', removeOurs);
  });

  // One event loop, and two workers both ways they share the port (relay-workers.ts): every worker
  // answers from the address its client contacted.
  it.each([
    ['1', 'auto'],
    ['2', 'auto'],
    ['2', 'handoff'],
  ])(
    'on %s worker(s), %s: answers from the address the client contacted and relays on it, where a 0.0.0.0 socket does not',
    (workers, mode) => {
      const out = execFileSync(
        ip!,
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          '--import',
          'tsx',
          'test-support/multi-address-probe.ts',
          `${A},${B},127.0.0.1`,
          workers,
          mode,
        ],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
      );
      const probe = JSON.parse(out.trim().split('\n').pop()!) as {
        listening: string[];
        results: Array<{
          from: string;
          to: string;
          relay: string | null;
          relayed: string;
          wildcard: string | null;
        }>;
      };
      expect(probe.listening).toEqual(expect.arrayContaining([A, B, '127.0.0.1']));
      expect(probe.results).toHaveLength(6);
      for (const r of probe.results) {
        expect(r.relay, `${r.from} → ${r.to}`).toBe(r.to);
        expect(r.relayed, `${r.from} → ${r.to}`).toBe(r.to);
      }
      // The old layout: a client on the other interface contacting 127.0.0.1 is answered from its own side.
      const fault = probe.results.find((r) => r.from === A && r.to === '127.0.0.1')!;
      expect(fault.wildcard).not.toBe('127.0.0.1');
    },
  );
});
