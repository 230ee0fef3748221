import { defineConfig } from 'vitest/config';

// Many tests start real processes and a real PostgreSQL server; on a busy 2-core machine they
// need more than vitest's 5 s default. The limits only catch a hang: no test asserts on time.
export default defineConfig({
  test: { testTimeout: 60_000, hookTimeout: 120_000 },
});
