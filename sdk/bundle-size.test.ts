/** The browser entry stays within its budget, everything it pulls in included (figures: `npm run bench`). */
import { describe, expect, it } from 'vitest';
import { BROWSER_BUNDLE_BUDGET_BYTES, ourBundleSize } from '../bench/bundle-size.js';

describe('browser bundle size', () => {
  it('is at most 40 KB minified + gzip', async () => {
    const size = await ourBundleSize();
    expect(size.gzipBytes).toBeLessThanOrEqual(BROWSER_BUNDLE_BUDGET_BYTES);
  });
});
