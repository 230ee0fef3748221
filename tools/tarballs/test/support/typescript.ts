/**
 * The compiler settings a TypeScript app of a user's is likely to have: strict, checking every
 * declaration file (a shipped `.d.ts` that names a package its user does not get fails here),
 * resolving as Node does (`node16`) or as bundlers do (`bundler`).
 */
const STRICT = { strict: true, target: 'ES2022', lib: ['ES2023'], types: [], skipLibCheck: false, verbatimModuleSyntax: true };

export const STRICT_HOSTS = {
  node16: { ...STRICT, module: 'node16', moduleResolution: 'node16' },
  bundler: { ...STRICT, module: 'preserve', moduleResolution: 'bundler' },
} satisfies Record<string, Record<string, unknown>>;

/**
 * A CommonJS TypeScript app (a `.cts` file) that requires the ES modules, as Node 20.19+ allows:
 * TypeScript 5.8+ accepts that under `module: node20`.
 */
export const COMMONJS_HOST = { ...STRICT, module: 'node20', moduleResolution: 'node16' };
