import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TRACER_NAME, TRACER_VERSION } from '../src/index.js';

describe('package metadata', () => {
  it('names spans with the package name and version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect([TRACER_NAME, TRACER_VERSION]).toEqual([pkg.name, pkg.version]);
  });
});
