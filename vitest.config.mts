import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each integration file starts its own Azurite and broker; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
