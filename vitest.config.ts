import { defineConfig } from 'vitest/config';

/**
 * Files that load the whole machine (100 000 connections over 12 processes, a drain storm of thousands of
 * clients): they run after the rest, one at a time, so neither they nor the tests beside them are starved
 * of the two cores. Beside other files the 100 000-connection test once ran past its 10-minute bound.
 */
const ALONE = ['signaling/scale.e2e.test.ts', 'signaling/cluster/drain-storm.e2e.test.ts'];

// Tests run against real sockets, relays and WebRTC stacks; two cores, so keep concurrency modest.
export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['**/*.test.ts'], exclude: ALONE },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
