import { defineConfig } from 'vitest/config';

// Tests run against real sockets, relays and WebRTC stacks; two cores, so keep concurrency modest.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
