// Scratch (not committed): bytes written a span by the in-process store path, per schema variant.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEngine, ExecutionRules, routeSpans, decodeProtobuf } from '@flowtrace/collector';
import { lazyRequestBodies, templateExecution } from '../dist/spans.js';

const wchar = () => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
const template = await templateExecution();
const REQUESTS = Number(process.env.REQUESTS ?? 240), PER_TX = Number(process.env.PER_TX ?? 2);
const decoded = [...lazyRequestBodies(template, REQUESTS + Number(process.env.HISTORY ?? 0), 512, 'protobuf')].map((b) => decodeProtobuf(Buffer.from(b)));
const history = decoded.splice(0, Number(process.env.HISTORY ?? 0));
const variants = {
  baseline: () => {},
  noList: (db) => db.exec('DROP INDEX executions_list'),
  noUnique: (db) => db.exec(`
    CREATE TABLE t2 (id INTEGER PRIMARY KEY, trace_id BLOB NOT NULL, ident BLOB); DROP TABLE traces; ALTER TABLE t2 RENAME TO traces;
    CREATE TABLE e2 (id INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, flow INTEGER, status INTEGER, started_at REAL, duration_ms REAL, deadline REAL, service TEXT, seq INTEGER, summary TEXT NOT NULL, outcome TEXT, ident TEXT);
    DROP TABLE executions; ALTER TABLE e2 RENAME TO executions;
    CREATE INDEX executions_list ON executions (flow, started_at DESC, id DESC) WHERE flow IS NOT NULL;
    CREATE INDEX executions_list_status ON executions (flow, status, started_at DESC, id DESC) WHERE flow IS NOT NULL;
    CREATE INDEX executions_pending_deadline ON executions (deadline) WHERE status = 0;
    CREATE INDEX executions_pending_service ON executions (service) WHERE status = 0;
    CREATE UNIQUE INDEX executions_seq ON executions (seq) WHERE seq IS NOT NULL;`),
};
variants.noSearch = (db) => db.exec('DROP TABLE search; CREATE TABLE search (params TEXT)');
variants.both = (db) => { variants.noUnique(db); variants.noList(db); };
variants.bothNoMerge = (db) => { variants.both(db); db.exec(`INSERT INTO search (search, rank) VALUES ('automerge', 0)`); };
for (const name of (process.env.VARIANTS ?? Object.keys(variants).join(',')).split(',')) {
  const dir = mkdtempSync(join(tmpdir(), 'bytes-'));
  const engine = new SqliteEngine({ path: join(dir, 'x.db') });
  variants[name](engine['db']);
  const rules = new ExecutionRules(engine, 3_600_000, () => {});
  const run = async (requests) => {
    for (let i = 0; i < requests.length; i += PER_TX) {
      const spans = requests.slice(i, i + PER_TX).flatMap((d) => d.spans);
      await rules.ingest(routeSpans({ spans, rejected: 0, reasons: [] }), Date.now());
    }
  };
  await run(history);
  await engine.idle();
  const before = wchar();
  const t = performance.now();
  await run(decoded);
  const written = wchar() - before;
  await engine.close();
  console.log(`${name.padEnd(12)} ${(written / (REQUESTS * 512)).toFixed(0)} B/span  ${((REQUESTS * 512) / ((performance.now() - t) / 1000)).toFixed(0)} spans/s`);
  rmSync(dir, { recursive: true, force: true });
}
