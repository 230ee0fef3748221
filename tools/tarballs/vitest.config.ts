import { defineConfig } from 'vitest/config';

// The published packages are packed once for every test file (test/support/packed.ts); installs and
// the processes they start take a while on a busy machine: the limits only catch a hang.
export default defineConfig({
  test: { globalSetup: ['./test/support/packed.ts'], testTimeout: 120_000, hookTimeout: 240_000 },
});
