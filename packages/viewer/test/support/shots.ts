import { mkdirSync } from 'node:fs';

/** Where browser tests write screenshots; the README shows some of them. */
export const SHOTS = new URL('../../test-results/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });
