/**
 * POST /v1/telemetry: the SDK's optional call-setup report (sdk/telemetry.ts sends it). One small JSON
 * object per request, from a client holding a valid token, at most a few per second per client IP; the
 * figures land in `signaling_client_call_setup_seconds{path,region}`. Nothing in it is stored or logged.
 *
 * The region label takes only regions this instance knows (its relays' and the bundled relay's), so a
 * client cannot grow the series without bound; anything else counts as `other`, no hint as `none`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { clientIp } from './auth/upgrade-auth.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import { TokenBucket } from './connection/token-bucket.js';
import type { SignalingMetrics } from './metrics.js';

/** The report body; `sdk/telemetry.ts` sends exactly this shape (checked by client-telemetry.test.ts). */
export const callSetupReportSchema = z
  .object({
    kind: z.literal('call-setup'),
    /** ms from learning of the peer to the pair's first working path (the WebSocket when none worked). */
    setupMs: z.number().finite().min(0).max(600_000),
    path: z.enum(['direct', 'relay', 'websocket']),
    region: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,32}$/)
      .optional(),
  })
  .strict();

export interface TelemetryLimits {
  /** Largest body accepted, bytes. Default 1024. */
  maxBodyBytes: number;
  /** Sustained reports per second per client IP. Default 2. */
  ratePerSecond: number;
  /** Reports at once per client IP. Default 20 (a mesh of 16 reports 15 pairs on joining). */
  burst: number;
  /** Client IPs whose buckets are kept; the oldest is forgotten past it. Default 10 000. */
  maxTrackedIps: number;
}

export const TELEMETRY_DEFAULTS: TelemetryLimits = {
  maxBodyBytes: 1024,
  ratePerSecond: 2,
  burst: 20,
  maxTrackedIps: 10_000,
};

export class TelemetryIntake {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly deps: {
      metrics: SignalingMetrics;
      verifier: TokenVerifier;
      trustProxy: boolean;
      /** Region labels this instance knows. */
      regions: () => ReadonlySet<string>;
    },
    private readonly limits: TelemetryLimits = TELEMETRY_DEFAULTS,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { metrics, verifier } = this.deps;
    const answer = (status: number, result: string) => {
      metrics.telemetryReports.inc({ result });
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ result }));
    };
    const auth = req.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
    if (!token || !verifier.verify(token).ok) return answer(401, 'unauthorized');
    if (!this.bucketOf(clientIp(req, this.deps.trustProxy)).take()) return answer(429, 'rate_limited');
    const body = await readBody(req, this.limits.maxBodyBytes);
    let parsed: z.infer<typeof callSetupReportSchema> | undefined;
    try {
      parsed = body === null ? undefined : callSetupReportSchema.parse(JSON.parse(body));
    } catch {
      parsed = undefined;
    }
    if (!parsed) return answer(400, 'invalid');
    const region =
      parsed.region === undefined ? 'none' : this.deps.regions().has(parsed.region) ? parsed.region : 'other';
    metrics.callSetup.observe({ path: parsed.path, region }, parsed.setupMs / 1000);
    answer(202, 'accepted');
  }

  private bucketOf(ip: string): TokenBucket {
    let bucket = this.buckets.get(ip);
    if (!bucket) {
      if (this.buckets.size >= this.limits.maxTrackedIps) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      bucket = new TokenBucket(this.limits.ratePerSecond, this.limits.burst);
      this.buckets.set(ip, bucket);
    }
    return bucket;
  }
}

/** The body as text, or null when it is larger than `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped, so the client still gets its answer.
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > max ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}
