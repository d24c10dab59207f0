/**
 * One inbound text frame to one validated client message: one `JSON.parse`, then the compiled check of
 * the protocol's schema (`protocol/compiled-check.ts`, built from the zod schemas at start), and zod
 * itself only when the compiled check cannot prove the frame valid. zod therefore still decides every
 * refusal and words every error, and the fast path only ever accepts what zod accepts (tested against
 * the refused fixtures in `frame-parser.test.ts`).
 */
import {
  clientMessageSchema,
  clientMessageTypes,
  requestIdSchema,
  type ClientMessage,
  type ErrorCode,
  type RequestId,
} from '../protocol/index.js';
import { compile, strictJsonSchema, type Check } from '../protocol/compiled-check.js';

export type ParsedFrame =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: ErrorCode; replyTo: RequestId | undefined; detail: string | undefined };

const knownTypes = new Set<string>(clientMessageTypes);
/** The compiled check of each message type's schema. */
const fastChecks = new Map<string, Check>(
  clientMessageSchema.options.map((o) => [o.shape.type.value, compile(strictJsonSchema(o))]),
);
const requestIdCheck = compile(strictJsonSchema(requestIdSchema));

/** Parse and validate one text frame; `fast: false` skips the compiled check (to compare the two). */
export function parseClientFrame(text: string, fast = true): ParsedFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_message', replyTo: undefined, detail: 'Frame is not valid JSON' };
  }
  const type = typeof raw === 'object' && raw !== null ? (raw as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !knownTypes.has(type))
    return { ok: false, code: 'unknown_type', replyTo: requestIdOf(raw), detail: undefined };
  if (fast && fastChecks.get(type)!(raw)) return { ok: true, message: raw as ClientMessage };
  const parsed = clientMessageSchema.safeParse(raw);
  if (parsed.success) return { ok: true, message: parsed.data };
  const issue = parsed.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return {
    ok: false,
    code: 'bad_message',
    replyTo: requestIdOf(raw),
    detail: `${where}${issue?.message ?? 'invalid message'}`,
  };
}

/** The request id of a frame that is refused, so the error can answer it; undefined when it has none. */
function requestIdOf(raw: unknown): RequestId | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const id = (raw as { id?: unknown }).id;
  if (requestIdCheck(id)) return id as RequestId;
  const parsed = requestIdSchema.safeParse(id);
  return parsed.success ? parsed.data : undefined;
}
