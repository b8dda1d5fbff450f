import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'jepsen-lite/**/*.test.ts'],
    // Integration tests start real node processes; give them room, never rely on it for timing.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: more forks than that only adds scheduling noise to process-level tests.
    pool: 'forks',
    maxWorkers: 2,
  },
});
