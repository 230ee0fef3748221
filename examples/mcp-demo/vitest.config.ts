import { defineConfig } from 'vitest/config';

// End-to-end tests start real processes and a real Chromium.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
