import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DOC_PATH, renderDocument } from './protocol-doc.js';

describe('PROTOCOL.md', () => {
  it('matches the schemas (regenerate with `npx tsx signaling/protocol/protocol-doc.ts --write`)', () => {
    const current = readFileSync(DOC_PATH, 'utf8');
    expect(current).toBe(renderDocument(current));
  });
});
