import { defineConfig } from 'vitest/config';

// Browser tests drive a real Chromium against a real collector: give them room.
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
