/**
 * The SDK's one WebSocket to signaling: opens it with the token in the subprotocol (the form browsers can
 * send), joins or resumes the room, keeps it alive with application pings, and after a drop reconnects
 * on the reconnect policy, resuming the session (same peer id) or, when the server no longer knows it,
 * joining afresh. It hands every other server message to the room.
 */
import {
  ERROR_CODES,
  SUBPROTOCOL,
  TOKEN_SUBPROTOCOL_PREFIX,
  parseServerMessage,
  type ClientMessage,
  type ServerMessage,
  type ServerMessageOf,
} from '../../signaling/protocol/light/index.js';
import type { Clock, TimerHandle } from '../clock.js';
import { DEFAULTS } from '../defaults.js';
import { SdkError } from '../errors.js';
import { TypedEmitter } from '../events/typed-emitter.js';
import { SOCKET_OPEN, type Platform, type SocketLike } from '../platform/platform.js';
import type { ReconnectPolicy } from './reconnect-policy.js';

export type Welcome = ServerMessageOf<'welcome'>;
export type SignalingState = 'connecting' | 'connected' | 'reconnecting' | 'closed';
/** initial: first join; resumed: same peer id after a drop; rejoined: a fresh join with a new peer id. */
export type JoinKind = 'initial' | 'resumed' | 'rejoined';

export interface SignalingClientEvents {
  joined: { welcome: Welcome; kind: JoinKind; previousPeerId: string | null };
  message: ServerMessage;
  state: SignalingState;
  reconnecting: { attempt: number; delayMs: number; error: unknown };
  /** Terminal: the client gave up or was closed. */
  closed: { error?: SdkError };
  /** getToken failed when the token was about to expire; the connection goes on until it does. */
  'token-refresh-failed': { error: SdkError };
}

export interface SignalingClientOptions {
  url: string;
  token: string;
  getToken: (() => Promise<string>) | undefined;
  room: string;
  meta: Record<string, string | number | boolean>;
  platform: Platform;
  clock: Clock;
  policy: ReconnectPolicy;
  connectTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  /** ms added before retrying after a failure before open (`DEFAULTS.refusedRetryFloorMs`). */
  refusedRetryFloorMs?: number;
  /** ms of jitter on a server's `Retry-After` (`DEFAULTS.retryAfterJitterMs`). */
  retryAfterJitterMs?: number;
  /** Source of randomness in [0, 1); tests inject one. */
  random?: () => number;
}

/** Close code we use to drop a socket we consider dead; not 1000/1001, so the server keeps our seat. */
const CLOSE_DEAD = 4000;

/**
 * Server closes after which reconnecting would be wrong: a newer connection of ours took the session, or
 * an operator removed us. Each ends the client with its code.
 */
const TERMINAL_CLOSES = new Map<number, 'session_replaced' | 'kicked' | 'revoked'>(
  (['session_replaced', 'kicked', 'revoked'] as const).map((code) => [ERROR_CODES[code].close, code]),
);

/**
 * When to hand the server a fresh token: with a fifth of the token's remaining life left, and at least
 * 30 s before it expires (a slow getToken still lands in time), but never in the past.
 */
export function tokenRefreshDelayMs(expiresAtSec: number, nowMs: number): number {
  const remaining = expiresAtSec * 1000 - nowMs;
  return Math.max(0, remaining - Math.max(30_000, remaining / 5));
}

/** Attempts that failed before their socket opened: refused upgrades, unreachable servers. */
const failedBeforeOpen = new WeakSet<object>();

export class SignalingClient extends TypedEmitter<SignalingClientEvents> {
  private socket: SocketLike | null = null;
  private session: { sessionId: string; peerId: string } | null = null;
  private token: string;
  private currentState: SignalingState = 'connecting';
  private closedFlag = false;
  private lastHeard = 0;
  private pingTimer: TimerHandle | null = null;
  private sleepTimer: TimerHandle | null = null;
  private wake: (() => void) | null = null;
  private nextRequestId = 1;
  private onLeft: (() => void) | null = null;
  private refreshTimer: TimerHandle | null = null;
  /** Sent with every join, so a rejoin or resume carries the latest metadata. */
  private meta: Record<string, string | number | boolean>;
  /** Aborts the connect attempt in flight (socket opening or joining), if any. */
  private abortAttempt: (() => void) | null = null;
  /** A drain's `reconnect`: when we move (clock ms), and the timer that moves us. */
  private moveAt: number | null = null;
  private moveTimer: TimerHandle | null = null;

  constructor(private readonly options: SignalingClientOptions) {
    super();
    this.token = options.token;
    this.meta = options.meta;
  }

  /** The metadata the next join (a reconnect's resume or rejoin) carries. */
  setMeta(meta: Record<string, string | number | boolean>): void {
    this.meta = meta;
  }

  get state(): SignalingState {
    return this.currentState;
  }

  get peerId(): string | null {
    return this.session?.peerId ?? null;
  }

  /** First connect: resolves with the welcome, or rejects with a typed error (no retry). */
  async start(): Promise<Welcome> {
    return this.openAndJoin(this.token, false);
  }

  /** Send if connected and joined; false otherwise (callers queue or drop). */
  send(message: ClientMessage): boolean {
    if (this.currentState !== 'connected' || !this.socket || this.socket.readyState !== SOCKET_OPEN)
      return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** A fresh request id for messages whose reply is matched by `replyTo`. */
  requestId(): number {
    return this.nextRequestId++;
  }

  /** Drop the socket as if the network failed (it reconnects and resumes). */
  dropConnection(): void {
    if (this.socket && this.currentState === 'connected')
      this.onDrop(this.socket, new Error('dropped locally'));
  }

  /**
   * Say `leave` and wait (up to `timeoutMs`) for the server's `left`, so the other members hear
   * `peer-left` before our links close; then close. Resolves at once when not connected.
   */
  async leave(timeoutMs: number): Promise<void> {
    if (this.send({ type: 'leave', id: this.requestId() })) {
      await new Promise<void>((resolve) => {
        const { clock } = this.options;
        let timer: TimerHandle | null = null;
        const done = () => {
          if (timer !== null) clock.clearTimeout(timer);
          this.onLeft = null;
          resolve();
        };
        timer = clock.setTimeout(done, timeoutMs);
        this.onLeft = done;
      });
    }
    this.close();
  }

  /** Idempotent: close the socket (1000: the server frees our seat at once) and stop reconnecting. */
  close(error?: SdkError): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.stopPing();
    this.stopTokenRefresh();
    this.stopMove();
    if (this.sleepTimer !== null) this.options.clock.clearTimeout(this.sleepTimer);
    this.wake?.();
    this.onLeft?.();
    this.abortAttempt?.(); // an attempt in flight settles now, closing its socket with 1000
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      try {
        socket.close(1000, 'leave');
      } catch {
        /* already closing */
      }
    }
    this.setState('closed');
    this.emit('closed', error ? { error } : {});
  }

  private setState(state: SignalingState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit('state', state);
  }

  /** Open a socket and join (resuming when asked and possible); resolves once welcomed. */
  private openAndJoin(token: string, resume: boolean): Promise<Welcome> {
    const { platform, clock, url, room, connectTimeoutMs } = this.options;
    const meta = this.meta;
    return new Promise<Welcome>((resolve, reject) => {
      let socket: SocketLike;
      try {
        socket = platform.createWebSocket(url, [SUBPROTOCOL, `${TOKEN_SUBPROTOCOL_PREFIX}${token}`]);
      } catch (err) {
        reject(new SdkError('signaling_unavailable', undefined, { cause: err }));
        return;
      }
      let settled = false;
      let opened = false;
      let resuming = resume && this.session !== null;
      const fail = (err: SdkError, closeCode = CLOSE_DEAD) => {
        if (settled) return;
        settled = true;
        this.abortAttempt = null;
        clock.clearTimeout(timer);
        detach(socket);
        try {
          socket.close(closeCode);
        } catch {
          /* not open yet */
        }
        reject(err);
      };
      const timer = clock.setTimeout(() => fail(new SdkError('connect_timeout')), connectTimeoutMs);
      this.abortAttempt = () => fail(new SdkError('room_closed'), 1000);
      const join = () => {
        const message: ClientMessage = { type: 'join', room, meta };
        if (resuming && this.session) message.resume = { ...this.session };
        socket.send(JSON.stringify(message));
      };
      socket.onopen = () => {
        opened = true;
        join();
      };
      socket.onerror = () => {
        /* the close event follows and carries the outcome */
      };
      socket.onclose = (ev) => {
        if (opened) {
          fail(new SdkError('signaling_unavailable', `closed before welcome (${ev.code})`, { cause: ev }));
          return;
        }
        // Refused or unreachable. Node can read a refusal's status and Retry-After; a browser cannot.
        const refusal = socket.refusal;
        const err =
          refusal?.retryAfterMs !== undefined
            ? new SdkError('server_busy', undefined, { cause: ev, retryAfterMs: refusal.retryAfterMs })
            : new SdkError(
                'signaling_unavailable',
                refusal ? `upgrade refused (${refusal.status})` : `closed before open (${ev.code})`,
                { cause: ev },
              );
        failedBeforeOpen.add(err);
        fail(err);
      };
      socket.onmessage = (ev) => {
        const message = parse(ev.data);
        if (!message || settled) return;
        if (message.type === 'error' && message.code === 'session_expired' && resuming) {
          resuming = false; // the server no longer knows our session: join afresh on the same socket
          join();
          return;
        }
        if (message.type === 'error') return fail(new SdkError(message.code, message.message));
        if (message.type !== 'welcome') return;
        if (this.closedFlag) return fail(new SdkError('room_closed'));
        settled = true;
        clock.clearTimeout(timer);
        this.abortAttempt = null;
        const previousPeerId = this.session?.peerId ?? null;
        this.adopt(socket, message);
        // Synchronously, before the next frame: `ws` may deliver the replayed mailbox in the same tick,
        // and the room must know its (new) peer id and members before handling any of it.
        const kind: JoinKind = !resume ? 'initial' : message.resumed ? 'resumed' : 'rejoined';
        this.emit('joined', { welcome: message, kind, previousPeerId });
        resolve(message);
      };
    });
  }

  /** The socket is welcomed: it becomes the live one. */
  private adopt(socket: SocketLike, welcome: Welcome): void {
    this.socket = socket;
    this.session = { sessionId: welcome.sessionId, peerId: welcome.peerId };
    this.lastHeard = this.options.clock.now();
    socket.onmessage = (ev) => {
      this.lastHeard = this.options.clock.now();
      const message = parse(ev.data);
      if (!message) return;
      if (message.type === 'pong') return;
      if (message.type === 'left') return this.onLeft?.();
      if (message.type === 'token-refreshed') return this.scheduleTokenRefresh(message.expiresAt);
      if (message.type === 'reconnect') {
        // Draining: stay (signals still flow here) until our own time in the server's spread, then go,
        // keeping our seat (not a clean close), and resume wherever we land.
        const error = new Error(`server asked to reconnect (${message.reason})`);
        if (message.afterMs <= 0) return this.onDrop(socket, error);
        const { clock } = this.options;
        this.stopMove();
        this.moveAt = clock.now() + message.afterMs;
        this.moveTimer = clock.setTimeout(() => {
          this.moveTimer = null;
          this.onDrop(socket, error);
        }, message.afterMs);
        return;
      }
      this.emit('message', message);
    };
    socket.onclose = (ev) => {
      const terminal = TERMINAL_CLOSES.get(ev.code);
      if (terminal && socket === this.socket) return this.close(new SdkError(terminal));
      // Closed before our time in a drain's spread: the rest of it is still a floor.
      const { clock } = this.options;
      const wait = this.moveAt === null ? 0 : Math.max(0, this.moveAt - clock.now());
      this.onDrop(socket, new Error(`socket closed (${ev.code})`), wait);
    };
    socket.onerror = () => {
      /* close follows */
    };
    this.setState('connected');
    this.startPing();
    this.scheduleTokenRefresh(welcome.tokenExpiresAt);
  }

  /**
   * Ahead of the token's expiry, fetch a fresh one (`getToken`) and hand it over the open socket, so the
   * server does not close us with `token_expired`. Without `getToken` the server closes us at expiry and
   * the reconnect fails until the app gives the room a new token.
   */
  private scheduleTokenRefresh(expiresAtSec: number): void {
    const { clock, getToken } = this.options;
    this.stopTokenRefresh();
    if (!getToken) return;
    this.refreshTimer = clock.setTimeout(
      () => {
        this.refreshTimer = null;
        const socket = this.socket;
        getToken()
          .then((token) => {
            if (this.closedFlag || socket !== this.socket) return;
            this.token = token;
            this.send({ type: 'refresh-token', id: this.requestId(), token });
          })
          .catch((err: unknown) => {
            // The next reconnect asks again; until then the server closes us at expiry.
            this.emit('token-refresh-failed', {
              error: new SdkError('token_refresh_failed', undefined, { cause: err }),
            });
          });
      },
      tokenRefreshDelayMs(expiresAtSec, clock.now()),
    );
  }

  private stopTokenRefresh(): void {
    if (this.refreshTimer !== null) this.options.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  /** `minDelayMs`: the server's `afterMs` hint, a floor for the first attempt's delay. */
  private onDrop(socket: SocketLike, error: unknown, minDelayMs = 0): void {
    if (this.closedFlag || socket !== this.socket) return;
    this.socket = null;
    this.stopPing();
    this.stopTokenRefresh();
    this.stopMove();
    detach(socket);
    try {
      socket.close(CLOSE_DEAD);
    } catch {
      /* already closed */
    }
    this.setState('reconnecting');
    void this.reconnectLoop(error, minDelayMs);
  }

  private async reconnectLoop(firstError: unknown, minDelayMs: number): Promise<void> {
    const { clock, policy, getToken } = this.options;
    const droppedAt = clock.now();
    let lastError = firstError;
    for (let attempt = 1; !this.closedFlag; attempt++) {
      const next = policy.nextDelayMs({ attempt, elapsedMs: clock.now() - droppedAt, lastError });
      if (next === null) {
        this.close(new SdkError('reconnect_gave_up', undefined, { cause: lastError }));
        return;
      }
      const delayMs = this.refusalDelayMs(lastError, attempt === 1 ? Math.max(next, minDelayMs) : next);
      this.emit('reconnecting', { attempt, delayMs, error: lastError });
      await this.sleep(delayMs);
      if (this.closedFlag) return;
      try {
        if (getToken) {
          try {
            this.token = await getToken();
          } catch (err) {
            throw new SdkError('token_refresh_failed', undefined, { cause: err });
          }
        }
        await this.openAndJoin(this.token, true);
        return;
      } catch (err) {
        lastError = err;
      }
    }
  }

  /**
   * After an attempt refused before it opened: the server's Retry-After plus jitter when we could read
   * it (Node), else the policy's delay plus a floor (a browser cannot tell a busy instance from one that
   * is down, and either is better left alone for a moment). Otherwise the policy's delay alone.
   */
  private refusalDelayMs(error: unknown, policyDelayMs: number): number {
    if (!(error instanceof SdkError) || !failedBeforeOpen.has(error)) return policyDelayMs;
    const { random = Math.random, retryAfterJitterMs, refusedRetryFloorMs } = this.options;
    if (error.retryAfterMs !== undefined)
      return error.retryAfterMs + Math.floor(random() * (retryAfterJitterMs ?? DEFAULTS.retryAfterJitterMs));
    return policyDelayMs + (refusedRetryFloorMs ?? DEFAULTS.refusedRetryFloorMs);
  }

  private stopMove(): void {
    if (this.moveTimer !== null) this.options.clock.clearTimeout(this.moveTimer);
    this.moveTimer = null;
    this.moveAt = null;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.sleepTimer = this.options.clock.setTimeout(() => {
        this.sleepTimer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  private startPing(): void {
    const { clock, pingIntervalMs, pongTimeoutMs } = this.options;
    const tick = () => {
      this.pingTimer = null;
      const socket = this.socket;
      if (!socket || this.closedFlag) return;
      if (clock.now() - this.lastHeard > pingIntervalMs + pongTimeoutMs) {
        this.onDrop(socket, new Error('no pong from signaling'));
        return;
      }
      this.send({ type: 'ping', t: clock.now() });
      this.pingTimer = clock.setTimeout(tick, pingIntervalMs);
    };
    this.stopPing();
    this.pingTimer = clock.setTimeout(tick, pingIntervalMs);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) this.options.clock.clearTimeout(this.pingTimer);
    this.pingTimer = null;
  }
}

function detach(socket: SocketLike): void {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  // Never null: `ws` in Node throws an 'error' that has no listener (e.g. closing a connecting socket).
  socket.onerror = () => {};
}

function parse(data: unknown): ServerMessage | null {
  if (typeof data !== 'string') return null;
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    return null;
  }
  return parseServerMessage(raw);
}
