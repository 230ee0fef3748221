import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json' with { type: 'json' };
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// `docker compose config` needs Docker, which does not run here. The file is checked against the
// Compose Specification's JSON schema instead: the compose-spec project's schema (Apache-2.0), as
// the dclint package ships it in schemas/compose.schema.json, pinned with dclint's version.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCHEMA = join(dirname(createRequire(import.meta.url).resolve('dclint/package.json')), 'schemas', 'compose.schema.json');

describe('docker-compose.yml', () => {
  const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as { title: string };
  const ajv = new Ajv({ allErrors: true, strict: false });
  // The schema names draft-07 by its https address; Ajv knows that meta-schema by its http one.
  ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
  const validate = ajv.compile(schema);

  it('is a valid Compose file by the Compose Specification\'s schema', () => {
    expect(schema.title).toBe('Compose Specification');
    const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as unknown;
    validate(compose);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('would be refused by that schema with a misspelt key or a wrong type (the check checks)', () => {
    const compose = parse(readFileSync(`${ROOT}docker-compose.yml`, 'utf8')) as { services: Record<string, Record<string, unknown>> };
    compose.services.collector!.dependson = compose.services.collector!.depends_on;
    compose.services.jaeger!.ports = '127.0.0.1:16686:16686';
    expect(validate(compose)).toBe(false);
    expect(validate.errors!.map((error) => error.instancePath).sort()).toEqual(expect.arrayContaining(['/services/collector', '/services/jaeger/ports']));
  });
});
