import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
const wchar = () => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))[1]);
const N = 130_000;
const text = (n) => JSON.stringify({ customer: { id: `c-${n % 5000}`, email: `user${n % 5000}@example.com`, tier: 'gold' }, items: [{ sku: 'tea-green', qty: 2, price: 4.5 }, { sku: 'mug', qty: 1, price: 12 }, { sku: 'kettle', qty: 1, price: 39 }], card: '[redacted]', order: `O-${n}` });
for (const [batch, automerge] of (process.env.CASES ?? '1024:4,1024:8,1024:16').split(',').map((c) => c.split(':').map(Number))) {
  const dir = mkdtempSync(join(tmpdir(), 'fts-'));
  const db = new Database(join(dir, 'x.db'));
  db.pragma('journal_mode = TRUNCATE'); db.pragma('synchronous = FULL');
  db.exec(`CREATE VIRTUAL TABLE search USING fts5 (params, content = '', contentless_delete = 1, tokenize = 'trigram')`);
  db.exec(`INSERT INTO search (search, rank) VALUES ('automerge', ${automerge})`);
  const ins = db.prepare('INSERT INTO search (rowid, params) VALUES (?, ?)');
  const tx = db.transaction((from, to) => { for (let i = from; i < to; i++) ins.run(i + 1, text(i)); });
  const w0 = wchar(), t = performance.now();
  for (let i = 0; i < N; i += batch) tx(i, Math.min(N, i + batch));
  const total = wchar() - w0, us = (performance.now() - t) / N * 1000;
  const q = db.prepare(`SELECT count(*) FROM search WHERE search MATCH ?`).pluck();
  const times = [];
  for (const term of ['"user4242@"', '"O-129999"', '"kettle"', '"c-17"'] ) { const s = performance.now(); for (let k = 0; k < 5; k++) q.get(term); times.push(((performance.now() - s) / 5).toFixed(2)); }
  console.log(`batch ${batch} automerge ${automerge}: ${(total / N).toFixed(0)} B/doc written, ${us.toFixed(1)} µs/doc; q ms: ${times.join(' ')}`);
  db.close(); rmSync(dir, { recursive: true, force: true });
}
