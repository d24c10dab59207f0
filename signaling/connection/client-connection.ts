/**
 * One client's WebSocket: size and rate limits, parsing and validation of every inbound frame
 * (`frame-parser.ts`), sends with a send-buffer limit, and the close path. What a valid message does is the dispatcher's job.
 */
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import {
  ERROR_CODES,
  ProtocolError,
  type ClientMessage,
  type ErrorCode,
  type RequestId,
  type ServerMessage,
} from '../protocol/index.js';
import type { Grant } from '../auth/token-verifier.js';
import type { Clock } from '../../common/clock.js';
import type { Frame } from '../rooms/frame.js';
import type { SignalingMetrics } from '../metrics.js';
import { TokenBucket } from './token-bucket.js';
import { parseClientFrame } from './frame-parser.js';
import type { Beating } from './heartbeat.js';
import type { RelayHint } from '../ice/ice-servers.js';

export interface ConnectionLimits {
  maxMessageBytes: number;
  ratePerSecond: number;
  rateBurst: number;
  maxBufferedBytes: number;
}

/** What a connection needs besides its socket: limits, the clock its token expires on, where to report. */
export interface ConnectionContext {
  limits: ConnectionLimits;
  clock: Clock;
  /** Tolerated clock skew at token expiry, seconds (the same as at the upgrade). */
  clockSkewSec: number;
  metrics: SignalingMetrics;
  log: Logger;
  /** A valid message; `arrivedAt` is when its frame arrived (`performance.now()` ms). */
  onMessage: (conn: ClientConnection, message: ClientMessage, arrivedAt: number) => void;
}

/** Membership of the connection, set by the dispatcher on join and cleared on leave. */
export interface Membership {
  room: string;
  peerId: string;
  sessionId: string;
}

/** At most one rate_limited error per this many ms, so a flood does not turn into an error flood. */
const RATE_ERROR_INTERVAL_MS = 1000;

export class ClientConnection implements Beating {
  alive = true;
  membership: Membership | null = null;
  /** Set when the client said `leave` or closed normally: no resume window is kept for it. */
  leftCleanly = false;
  private readonly bucket: TokenBucket;
  private lastRateError = -Infinity;
  private closing = false;
  private currentGrant: Grant;
  /** Closes the connection when its token expires; re-armed by each renewal. */
  private expiry: unknown = null;

  constructor(
    private readonly ws: WebSocket,
    grant: Grant,
    readonly ip: string,
    /** Host the client reached us at and its region hint, for choosing and naming relays. */
    readonly relayHint: RelayHint,
    private readonly context: ConnectionContext,
  ) {
    this.currentGrant = grant;
    this.bucket = new TokenBucket(context.limits.ratePerSecond, context.limits.rateBurst);
    this.armExpiry();
    ws.on('pong', () => (this.alive = true));
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.once('close', () => context.clock.clearTimeout(this.expiry));
  }

  /** What the connection's token grants; its powers end when the token does. */
  get grant(): Grant {
    return this.currentGrant;
  }

  /** A fresh token for the same user (`refresh-token`): its grant and expiry replace the old. */
  renewGrant(grant: Grant): void {
    this.currentGrant = grant;
    this.armExpiry();
  }

  private armExpiry(): void {
    const { clock, clockSkewSec } = this.context;
    clock.clearTimeout(this.expiry);
    const ms = (this.currentGrant.expiresAt + clockSkewSec) * 1000 - clock.now();
    this.expiry = clock.setTimeout(() => this.fail('token_expired'), Math.max(0, ms));
  }

  /**
   * A child logger with this connection's fixed fields, made only when something is logged: a pino child
   * per idle connection costs memory that thousands of connections notice.
   */
  get log(): Logger {
    const m = this.membership;
    return this.context.log.child({
      user: this.grant.userId,
      ...(m ? { room: m.room, peer: m.peerId } : {}),
    });
  }

  send(message: ServerMessage): void {
    this.sendFrame({ type: message.type, json: JSON.stringify(message) });
  }

  /** Send a frame serialized once for all its receivers. Never throws: a failure is logged and counted. */
  sendFrame(frame: Frame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    try {
      this.ws.send(frame.json);
    } catch (err) {
      this.log.warn({ err, type: frame.type }, 'send failed');
      this.context.metrics.errors.inc({ code: 'internal' });
      return;
    }
    this.context.metrics.countOut(frame.type);
    // A reader that cannot keep up must not grow our memory without bound (ws buffers without limit).
    if (this.ws.bufferedAmount > this.context.limits.maxBufferedBytes) this.fail('backpressure', true);
  }

  sendError(code: ErrorCode, replyTo?: RequestId, message: string = ERROR_CODES[code].message): void {
    this.context.metrics.errors.inc({ code });
    this.send({ type: 'error', code, message, ...(replyTo !== undefined ? { replyTo } : {}) });
  }

  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  expire(): void {
    this.fail('heartbeat_timeout', true);
  }

  /** Close with the error's close code. `hard` skips the closing handshake (the peer is not reading). */
  fail(code: ErrorCode, hard = false): void {
    if (this.closing) return;
    this.closing = true;
    this.context.metrics.errors.inc({ code });
    this.log.info({ code }, 'closing connection');
    if (hard) this.ws.terminate();
    else this.ws.close(ERROR_CODES[code].close, code);
  }

  /** Close for a server restart (RFC 6455 1012): the client should reconnect and resume. */
  closeForRestart(): void {
    if (this.closing) return;
    this.closing = true;
    this.ws.close(1012, 'server_draining');
  }

  terminate(): void {
    this.closing = true;
    this.ws.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    const arrivedAt = performance.now();
    this.alive = true;
    // Every frame costs a token, oversize and malformed ones included: refusing them is work too.
    if (!this.bucket.take()) {
      this.context.metrics.errors.inc({ code: 'rate_limited' });
      if (arrivedAt - this.lastRateError >= RATE_ERROR_INTERVAL_MS) {
        this.lastRateError = arrivedAt;
        this.send({ type: 'error', code: 'rate_limited', message: ERROR_CODES.rate_limited.message });
      }
      return;
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > this.context.limits.maxMessageBytes) return this.sendError('payload_too_large');
    if (isBinary) return this.sendError('bad_message', undefined, 'Binary frames are not accepted');
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Buffer.concat(data as Buffer[]).toString('utf8');
    const parsed = parseClientFrame(text);
    if (!parsed.ok) return this.sendError(parsed.code, parsed.replyTo, parsed.detail);
    const message = parsed.message;
    this.context.metrics.countIn(message.type);
    try {
      this.context.onMessage(this, message, arrivedAt);
    } catch (err) {
      this.reportFailure(err, message.id);
    }
  }

  /** Turn a failure in handling into an error frame; a ProtocolError keeps its code. */
  reportFailure(err: unknown, replyTo?: RequestId): void {
    if (err instanceof ProtocolError) return this.sendError(err.code, replyTo, err.message);
    this.log.error({ err }, 'message handling failed');
    this.sendError('internal', replyTo);
  }
}
