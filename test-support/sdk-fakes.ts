/** In-memory stand-ins for SDK unit tests: a manual clock and a platform whose sockets the test drives. */
import type { Clock, TimerHandle } from '../sdk/clock.js';
import type { Platform, SocketLike } from '../sdk/platform/platform.js';
import type { ClientMessage, ServerMessage } from '../signaling/protocol/index.js';

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  private t = 1_700_000_000_000;
  private seq = 0;
  private timers: Timer[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
    this.timers.push(timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    // Like the platform's clearTimeout, a null or unknown handle is ignored.
    const id = (handle as { id: number } | null)?.id;
    this.timers = this.timers.filter((x) => x.id !== id);
  }

  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward, running due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((x) => x.at <= target).sort((x, y) => x.at - y.at || x.id - y.id)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeSocket implements SocketLike {
  readyState = 0;
  bufferedAmount = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: ClientMessage[] = [];
  closedWith: number | null = null;
  /** What a refused upgrade said, as Node's platform reports it; set before `refuse()`. */
  refusal: { status: number; retryAfterMs: number | undefined } | undefined = undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }

  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.closedWith = code;
    this.readyState = 3;
  }

  // ---- the "server" side ----
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  deliver(message: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  /** The connection drops (or the server closes it). */
  drop(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }

  /** The connection is refused before it opens. */
  refuse(): void {
    this.onerror?.({});
    this.drop(1006);
  }
}

export class FakePlatform implements Platform {
  readonly name = 'node' as const;
  readonly wrtc = { RTCPeerConnection: null, RTCSessionDescription: null, RTCIceCandidate: null };
  readonly sockets: FakeSocket[] = [];

  createWebSocket(url: string, protocols: string[]): SocketLike {
    const socket = new FakeSocket(url, protocols);
    this.sockets.push(socket);
    return socket;
  }

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (!s) throw new Error('no socket yet');
    return s;
  }
}

export function welcomeFor(
  peerId: string,
  extra: Partial<Extract<ServerMessage, { type: 'welcome' }>> = {},
): Extract<ServerMessage, { type: 'welcome' }> {
  return {
    type: 'welcome',
    room: 'r',
    peerId,
    sessionId: `session-${peerId}-0123456789`,
    resumed: false,
    members: [],
    iceServers: [],
    iceServersExpireAt: 0,
    tokenExpiresAt: 2_000_000_000,
    limits: { maxMessageBytes: 65536, roomSize: 16, ratePerSecond: 100, resumeWindowMs: 30000 },
    ...extra,
  };
}
