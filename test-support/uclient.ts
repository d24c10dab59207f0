/**
 * coturn's load client, `turnutils_uclient`, run against a relay on loopback, and the figures it prints.
 * It is a TURN client we did not write: allocations with EVEN-PORT and RESERVATION-TOKEN (RTP/RTCP pairs
 * unless -c), ChannelBind with RFC 5766 channel numbers, and TURN REST API credentials from -W.
 */
import { spawn } from 'node:child_process';

export interface UclientRun {
  /** Exit code; null when it was killed at the deadline. */
  code: number | null;
  timedOut: boolean;
  output: string;
}

/** Run uclient with `args`; killed (SIGKILL) if it has not exited after `timeoutMs`. */
export function runUclient(bin: string, args: string[], timeoutMs: number): Promise<UclientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, output });
    });
  });
}

export interface UclientFigures {
  sentMessages: number;
  receivedMessages: number;
  lostPackets: number;
  lostPercent: number;
  sendDropped: number;
  /** Relayed addresses granted, in order, with whether a RESERVATION-TOKEN came with each (needs -v). */
  allocations: Array<{ port: number; reservationToken: boolean }>;
  channelBindErrors: number;
  errors: string[];
}

/** The totals uclient prints at the end of a run; null when the summary lines are missing. */
export function parseUclient(output: string): UclientFigures | null {
  // The final totals line has no "msz=" (the per-second progress lines do).
  const totals = [...output.matchAll(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/g)].at(-1);
  const lost = output.match(/Total lost packets (\d+) \(([\d.]+)%\), total send dropped (\d+) \(([\d.]+)%\)/);
  if (!totals || !lost) return null;
  // With -v each allocation prints its relayed address, then "clnet_allocate: rtv=<token or 0>".
  const allocations = [
    ...output.matchAll(/Received relay addr: [\d.]+:(\d+)\s*\n.*clnet_allocate: rtv=(\d+)/g),
  ].map((m) => ({ port: Number(m[1]), reservationToken: m[2] !== '0' }));
  return {
    sentMessages: Number(totals[1]),
    receivedMessages: Number(totals[2]),
    lostPackets: Number(lost[1]),
    lostPercent: Number(lost[2]),
    sendDropped: Number(lost[3]),
    allocations,
    channelBindErrors: (output.match(/channel bind: error/g) ?? []).length,
    errors: output.split('\n').filter((l) => /ERROR/.test(l)),
  };
}

/** The summary lines worth showing when a run fails or for the record. */
export function uclientSummary(output: string): string {
  return output
    .split('\n')
    .filter((l) => /tot_send_msgs=\d+, tot_recv_msgs|Total lost|round trip|ERROR|error/.test(l))
    .filter((l) => !/msz=/.test(l))
    .join('\n');
}
