import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
const wchar = () => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
const N = 130_000;
const text = (n) => `customer: {"id":"c-${n % 5000}","email":"user${n % 5000}@example.com","tier":"gold"}, items: [{"sku":"tea-green","qty":2,"price":4.5},{"sku":"mug","qty":1,"price":12},{"sku":"kettle","qty":1,"price":39}], card: "[redacted]", order: "O-${n}"`;
for (const batch of (process.env.BATCHES ?? '80,1000,4096').split(',').map(Number)) {
  const dir = mkdtempSync(join(tmpdir(), 'fts-'));
  const db = new Database(join(dir, 'x.db'));
  db.pragma('journal_mode = TRUNCATE'); db.pragma('synchronous = FULL');
  db.exec(`CREATE VIRTUAL TABLE search USING fts5 (params, content = '', contentless_delete = 1, tokenize = 'trigram')`);
  const ins = db.prepare('INSERT INTO search (rowid, params) VALUES (?, ?)');
  const tx = db.transaction((from, to) => { for (let i = from; i < to; i++) ins.run(i + 1, text(i)); });
  let w0 = wchar(), t = performance.now(), lastW = w0, marks = [];
  for (let i = 0; i < N; i += batch) {
    tx(i, Math.min(N, i + batch));
    if (Math.floor((i + batch) / 10000) !== Math.floor(i / 10000)) { }
  }
  const total = wchar() - w0;
  // tail cost: last 6,000 docs in batches of 80 regardless (what ingest would pay after history)
  console.log(`batch ${batch}: ${(total / N).toFixed(0)} B/doc written over ${N} docs, ${((performance.now() - t) / N * 1000).toFixed(1)} µs/doc, file ${(readFileSync(join(dir,'x.db')).length / N).toFixed(0)} B/doc`);
  db.close(); rmSync(dir, { recursive: true, force: true });
}
