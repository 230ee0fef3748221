#!/usr/bin/env node
// The command npm links at install — in a checkout that comes before the build, so the linked
// file is this tracked one: it runs the built CLI, or says how to build it.
import('../dist/cli.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/cli.js')) throw error;
  process.stderr.write('flowtrace-collector: not built yet; run `npm run build` at the repository root first\n');
  process.exit(1);
});
