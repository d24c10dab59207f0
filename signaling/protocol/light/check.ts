/**
 * A validator for the subset of JSON Schema (draft 2020-12) that `z.toJSONSchema` produces from the
 * protocol's schemas: `type`, `const`, `enum`, `anyOf`/`oneOf`, `properties`/`required`, `items`,
 * `additionalProperties`, `propertyNames`, string lengths, `pattern` and number bounds. About 1 KB in a
 * bundle instead of zod's 90, so browsers check server frames against the very schemas the server uses.
 *
 * One deliberate difference from the server: an object's unknown properties are ignored here
 * (`additionalProperties: false` is not enforced). The server rejects what it does not know; a client is
 * a tolerant reader, so an installed SDK keeps working when a newer server adds an optional field.
 */

/** A JSON Schema node, as generated into `wire.generated.ts`. */
export interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: readonly unknown[];
  anyOf?: readonly JsonSchema[];
  oneOf?: readonly JsonSchema[];
  properties?: Readonly<Record<string, JsonSchema>>;
  required?: readonly string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
}

const patterns = new Map<string, RegExp>();

function typeMatches(type: string, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'null':
      return value === null;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    default:
      return false;
  }
}

/** True when `value` satisfies `schema` (unknown object properties aside, see above). */
export function matches(schema: JsonSchema, value: unknown): boolean {
  if (schema.type !== undefined && !typeMatches(schema.type, value)) return false;
  if ('const' in schema && value !== schema.const) return false;
  if (schema.enum && !schema.enum.includes(value)) return false;
  if (schema.anyOf && !schema.anyOf.some((s) => matches(s, value))) return false;
  // The protocol's unions are discriminated by `type`, so "exactly one" and "at least one" agree.
  if (schema.oneOf && !schema.oneOf.some((s) => matches(s, value))) return false;
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return false;
    if (schema.maxLength !== undefined && value.length > schema.maxLength) return false;
    if (schema.pattern !== undefined) {
      let re = patterns.get(schema.pattern);
      if (!re) patterns.set(schema.pattern, (re = new RegExp(schema.pattern)));
      if (!re.test(value)) return false;
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return false;
    if (schema.maximum !== undefined && value > schema.maximum) return false;
  }
  if (Array.isArray(value) && schema.items) {
    const items = schema.items;
    if (!value.every((v) => matches(items, v))) return false;
  }
  if (typeMatches('object', value)) return matchesObject(schema, value as Record<string, unknown>);
  return true;
}

function matchesObject(schema: JsonSchema, value: Record<string, unknown>): boolean {
  const props = schema.properties ?? {};
  for (const key of schema.required ?? []) if (!(key in value)) return false;
  for (const [key, v] of Object.entries(value)) {
    const own = props[key];
    if (own) {
      if (!matches(own, v)) return false;
      continue;
    }
    if (schema.propertyNames && !matches(schema.propertyNames, key)) return false;
    const extra = schema.additionalProperties;
    if (typeof extra === 'object' && !matches(extra, v)) return false;
  }
  return true;
}
