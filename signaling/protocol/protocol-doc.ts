/**
 * Renders the reference part of signaling/PROTOCOL.md from the schemas, so the document cannot drift from
 * the code: `npx tsx signaling/protocol/protocol-doc.ts --write` regenerates it, and a test compares.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { clientMessageSchema } from './client-messages.js';
import { ERROR_CODES } from './error-codes.js';
import { serverMessageSchema } from './server-messages.js';

export const DOC_PATH = fileURLToPath(new URL('../PROTOCOL.md', import.meta.url));
const BEGIN = '<!-- generated from signaling/protocol: do not edit below -->';

function section(title: string, union: z.ZodDiscriminatedUnion): string[] {
  const out = [`## ${title}`, ''];
  for (const option of union.options as z.ZodObject[]) {
    const type = (option.shape.type as z.ZodLiteral<string>).value;
    out.push(
      `### \`${type}\``,
      '',
      '```json',
      JSON.stringify(z.toJSONSchema(option, { unrepresentable: 'any' }), null, 2),
      '```',
      '',
    );
  }
  return out;
}

export function renderReference(): string {
  const lines = [
    BEGIN,
    '',
    '## Error codes',
    '',
    '| code | close code | HTTP status | meaning |',
    '|---|---|---|---|',
    ...Object.entries(ERROR_CODES).map(
      ([code, e]) => `| \`${code}\` | ${e.close} | ${'http' in e ? e.http : ''} | ${e.message} |`,
    ),
    '',
    ...section('Client → server', clientMessageSchema),
    ...section('Server → client', serverMessageSchema),
  ];
  return lines.join('\n');
}

/** The whole document: the hand-written introduction above the marker, the generated reference below. */
export function renderDocument(current: string): string {
  const intro = current.includes(BEGIN) ? current.slice(0, current.indexOf(BEGIN)) : current + '\n';
  return intro + renderReference();
}

if (process.argv.includes('--write')) {
  writeFileSync(DOC_PATH, renderDocument(readFileSync(DOC_PATH, 'utf8')));
}
