import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bigExecutionBench } from './big-execution.js';
import { ingestBench } from './ingest.js';
import { liveBench } from './live.js';
import { formatFigure, type Bench } from './measure.js';
import { postgresBench } from './postgres.js';
import { queryBench } from './query.js';
import { slowClientsBench } from './slow-clients.js';
import { spoolBench } from './spool.js';
import { tracerBench } from './tracer.js';
import { viewerBench } from './viewer.js';

/**
 * `npm run bench` runs every benchmark; `npm run bench -- tracer query` some of them;
 * `--smoke` runs them with tiny sizes (CI does, so they never rot). Figures are printed and
 * written as JSON under bench/results/.
 */
const BENCHES: Record<string, Bench> = { tracer: tracerBench, ingest: ingestBench, big: bigExecutionBench, query: queryBench, viewer: viewerBench, live: liveBench, postgres: postgresBench, 'slow-clients': slowClientsBench, spool: spoolBench };

const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const names = args.filter((a) => !a.startsWith('--'));
const unknown = names.filter((n) => !(n in BENCHES));
if (unknown.length > 0) {
  console.error(`unknown benchmark ${unknown.join(', ')}; choose from ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
const selected = names.length > 0 ? names : Object.keys(BENCHES);
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`;
console.log(`flowtrace benchmarks${smoke ? ' (smoke: tiny sizes, numbers not meaningful)' : ''} on ${machine}\n`);

const results = [];
const started = Date.now();
for (const name of selected) {
  const benchStart = performance.now();
  const result = await BENCHES[name]!({ smoke, log: (message) => console.log(`  [${name}] ${message}`) });
  console.log(`${name} (${((performance.now() - benchStart) / 1000).toFixed(1)} s)`);
  for (const f of result.figures) console.log(formatFigure(f));
  console.log('');
  results.push(result);
}

const dir = fileURLToPath(new URL('../results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${new Date(started).toISOString().replace(/[:.]/g, '-')}${smoke ? '-smoke' : ''}.json`;
writeFileSync(file, JSON.stringify({ machine, smoke, startedAt: new Date(started).toISOString(), results }, null, 2));
console.log(`results written to ${file}`);
