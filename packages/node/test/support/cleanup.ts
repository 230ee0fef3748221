import { afterEach } from 'vitest';

/** Steps to undo after each test, run newest first; push them as resources are made. */
export function cleanupAfterEach(): Array<() => Promise<void> | void> {
  const steps: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const step of steps.splice(0).reverse()) await step();
  });
  return steps;
}
