/**
 * A fast path for validating frames, generated at start from the zod schemas (which stay the one
 * definition): each schema is turned into its JSON Schema (`z.toJSONSchema`) and that into a tree of plain
 * closures, one per node, so a frame is walked once, with no issue objects and no result wrappers.
 *
 * The compiled check is one-sided by construction: `true` means zod accepts the value unchanged;
 * `false` means only "not proven here", and the caller asks zod, which decides and words the error. So
 * the fast path can never accept what zod refuses, and every refusal keeps zod's message. To stay one-
 * sided, a node compiles to "never proven" whenever the JSON Schema does not say everything zod checks:
 * an unknown keyword, a refinement or transform (invisible in JSON Schema, so marked here), a regex
 * with flags, a type zod cannot represent, or an object that would strip unknown keys.
 */
import { z } from 'zod';

/** A JSON Schema node as `z.toJSONSchema` writes it, with our marker for what it cannot express. */
type Node = Record<string, unknown>;
export type Check = (value: unknown) => boolean;

/** Marks a node whose zod schema checks more than its JSON Schema says. */
const OPAQUE = 'x-not-compiled';

/** JSON Schema of `schema`, with every node that says less than zod checks marked {@link OPAQUE}. */
export function strictJsonSchema(schema: z.ZodType): Node {
  return z.toJSONSchema(schema, {
    unrepresentable: 'any',
    override(ctx) {
      const def = (ctx.zodSchema as unknown as { _zod: { def: ZodDef } })._zod.def;
      const json = ctx.jsonSchema as Node;
      const checks = (def.checks ?? []).map((c) => c._zod.def);
      const refined = checks.some((c) => !EXACT_CHECKS.has(c.check));
      const flagged = checks.some((c) => c.pattern instanceof RegExp && c.pattern.flags !== '');
      // `unrepresentable: 'any'` writes {} for what JSON Schema cannot say: only unknown/any mean "anything".
      const lost = Object.keys(json).length === 0 && def.type !== 'unknown' && def.type !== 'any';
      if (refined || flagged || lost || !KNOWN_ZOD_TYPES.has(def.type)) json[OPAQUE] = true;
    },
  });
}

interface ZodDef {
  type: string;
  checks?: Array<{ _zod: { def: { check: string; pattern?: unknown } } }>;
}

/**
 * zod checks that JSON Schema states exactly (the others, `custom` refinements and `overwrite`
 * transforms among them, make their node opaque). A string format other than a plain regex adds a
 * `format` keyword, which the compiler does not know either.
 */
const EXACT_CHECKS = new Set([
  'max_length',
  'min_length',
  'length_equals',
  'string_format',
  'number_format',
  'greater_than',
  'less_than',
]);

/** zod types whose JSON Schema is exact (no transform, default, coercion, catch or custom parsing). */
const KNOWN_ZOD_TYPES = new Set([
  'string',
  'number',
  'boolean',
  'null',
  'literal',
  'enum',
  'object',
  'array',
  'record',
  'union',
  'optional',
  'nullable',
  'unknown',
  'any',
]);

/** Keywords this compiler understands; a node with any other is never proven. */
const KEYWORDS = new Set([
  '$schema',
  'type',
  'const',
  'enum',
  'anyOf',
  'oneOf',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'description',
]);

const never: Check = () => false;
const always: Check = () => true;

/** Compile a JSON Schema node (from {@link strictJsonSchema}) into a one-sided check. */
export function compile(node: Node): Check {
  if (node[OPAQUE] === true) return never;
  for (const key of Object.keys(node)) if (!KEYWORDS.has(key)) return never;
  const parts: Check[] = [];
  const type = node.type;
  if (type !== undefined) {
    const t = typeCheck(type);
    if (!t) return never;
    parts.push(t);
  }
  if ('const' in node) {
    const c = node.const;
    if (c !== null && typeof c === 'object') return never;
    parts.push((v) => v === c);
  }
  if (node.enum !== undefined) {
    if (!Array.isArray(node.enum) || node.enum.some((e) => e !== null && typeof e === 'object')) return never;
    const values = new Set<unknown>(node.enum);
    parts.push((v) => values.has(v));
  }
  if (node.anyOf !== undefined) parts.push(anyOf(node.anyOf));
  if (node.oneOf !== undefined) parts.push(oneOf(node.oneOf));
  const str = stringCheck(node);
  if (str === null) return never;
  if (str) parts.push(str);
  const num = numberCheck(node);
  if (num) parts.push(num);
  const arr = arrayCheck(node);
  if (arr === null) return never;
  if (arr) parts.push(arr);
  const obj = objectCheck(node);
  if (obj === null) return never;
  if (obj) parts.push(obj);
  if (parts.length === 0) return always;
  if (parts.length === 1) return parts[0]!;
  return (v) => {
    for (const p of parts) if (!p(v)) return false;
    return true;
  };
}

function typeCheck(type: unknown): Check | null {
  switch (type) {
    case 'string':
      return (v) => typeof v === 'string';
    // zod's numbers are finite; JSON.parse never yields anything else, but say so anyway.
    case 'number':
      return (v) => typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return (v) => Number.isInteger(v);
    case 'boolean':
      return (v) => typeof v === 'boolean';
    case 'null':
      return (v) => v === null;
    case 'array':
      return (v) => Array.isArray(v);
    case 'object':
      return isPlainObject;
    default:
      return null;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function anyOf(options: unknown): Check {
  if (!Array.isArray(options)) return never;
  const checks = options.map((o) => compile(o as Node));
  return (v) => {
    for (const c of checks) if (c(v)) return true;
    return false;
  };
}

/**
 * A discriminated union (every option an object with a constant `type`) goes straight to its option;
 * any other `oneOf` is proven only when exactly one option holds.
 */
function oneOf(options: unknown): Check {
  if (!Array.isArray(options)) return never;
  const byType = new Map<unknown, Check>();
  for (const o of options as Node[]) {
    const tag = (o.properties as Record<string, Node> | undefined)?.type;
    const required = Array.isArray(o.required) && o.required.includes('type');
    if (!tag || !('const' in tag) || !required || byType.has(tag.const)) {
      const checks = options.map((x) => compile(x as Node));
      return (v) => checks.filter((c) => c(v)).length === 1;
    }
    byType.set(tag.const, compile(o));
  }
  return (v) => {
    const check = isPlainObject(v) ? byType.get(v.type) : undefined;
    return check !== undefined && check(v);
  };
}

/** null: a keyword this compiler cannot prove (the node is never proven). */
function stringCheck(node: Node): Check | null | undefined {
  const { minLength, maxLength, pattern } = node;
  if (minLength === undefined && maxLength === undefined && pattern === undefined) return undefined;
  // zod measures strings in UTF-16 code units (`.length`), and the schema came from zod.
  const min = typeof minLength === 'number' ? minLength : 0;
  const max = typeof maxLength === 'number' ? maxLength : Infinity;
  let re: RegExp | null = null;
  if (pattern !== undefined) {
    if (typeof pattern !== 'string') return null;
    re = new RegExp(pattern);
  }
  return (v) => typeof v !== 'string' || (v.length >= min && v.length <= max && (re === null || re.test(v)));
}

function numberCheck(node: Node): Check | undefined {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = node;
  const lo = typeof minimum === 'number' ? minimum : -Infinity;
  const hi = typeof maximum === 'number' ? maximum : Infinity;
  const xlo = typeof exclusiveMinimum === 'number' ? exclusiveMinimum : -Infinity;
  const xhi = typeof exclusiveMaximum === 'number' ? exclusiveMaximum : Infinity;
  if (lo === -Infinity && hi === Infinity && xlo === -Infinity && xhi === Infinity) return undefined;
  return (v) => typeof v !== 'number' || (v >= lo && v <= hi && v > xlo && v < xhi);
}

function arrayCheck(node: Node): Check | null | undefined {
  const { items, minItems, maxItems } = node;
  if (items === undefined && minItems === undefined && maxItems === undefined) return undefined;
  if (items !== undefined && !isPlainObject(items)) return null;
  const item = items === undefined ? always : compile(items);
  const min = typeof minItems === 'number' ? minItems : 0;
  const max = typeof maxItems === 'number' ? maxItems : Infinity;
  return (v) => {
    if (!Array.isArray(v)) return true;
    if (v.length < min || v.length > max) return false;
    for (const x of v) if (!item(x)) return false;
    return true;
  };
}

function objectCheck(node: Node): Check | null | undefined {
  const { properties, required, additionalProperties, propertyNames } = node;
  if (node.type !== 'object') {
    const objectOnly = [properties, required, additionalProperties, propertyNames].some(
      (k) => k !== undefined,
    );
    return objectOnly ? null : undefined;
  }
  const props = new Map<string, Check>();
  if (properties !== undefined) {
    if (!isPlainObject(properties)) return null;
    for (const [k, s] of Object.entries(properties)) props.set(k, compile(s as Node));
  }
  const req = Array.isArray(required) ? (required as string[]) : [];
  // Unknown keys: refused by a strict zod object (false), checked by a record's value schema (an object),
  // and otherwise stripped by zod, which the fast path does not do: such an object is proven only without them.
  const extra: Check =
    isPlainObject(additionalProperties) && properties === undefined ? compile(additionalProperties) : never;
  const names: Check = isPlainObject(propertyNames) ? compile(propertyNames) : always;
  return (v) => {
    if (!isPlainObject(v)) return true;
    for (const k of req) if (!Object.hasOwn(v, k)) return false;
    for (const k in v) {
      // JSON.parse makes `__proto__` an own key; zod's record output drops it (assigning it sets a
      // prototype), so a frame carrying one is left to zod rather than passed on as it came.
      if (!Object.hasOwn(v, k) || k === '__proto__') return false;
      const own = props.get(k);
      if (own) {
        if (!own(v[k])) return false;
      } else if (!names(k) || !extra(v[k])) return false;
    }
    return true;
  };
}
