import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeJson, decodeProtobuf } from '@flowtrace/collector';
import { startCollectorProcess } from './collector-process.js';
import { alternate, figure, median, unavailable, type Bench, type BenchResult, type Figure } from './measure.js';
import { sendBodies } from './send.js';
import { lazyRequestBodies, requestBodies, templateExecution, type Encoding } from './spans.js';
import { straceAvailable, writesByTree, type WritesByTree } from './write-trace.js';

const SPANS_PER_REQUEST = 512;
const SENDERS = 4;
/** Requests stored before the with-history run is measured: ~205,000 executions of the template. */
const HISTORY_REQUESTS = 2400;

/**
 * Spans per second the collector acknowledges over loopback — realistic flowtrace spans encoded
 * by the OTel JS serialisers, 4 requests in flight, 200 only after a durable commit — against
 * the limit issue 13 names: the same bodies decoded and appended bare in this process, same run.
 * Also what ingest costs on disk: bytes the collector writes per span, and the file it leaves,
 * both against the span's size on the wire.
 */
export const ingestBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const template = await templateExecution();
  const count = smoke ? 4 : 120;
  const figures: Figure[] = [];
  const samples: Record<string, number[]> = {};
  let peakRss = 0;
  let wire: { name: string; value: number } | undefined;
  for (const encoding of ['protobuf', 'json'] as const) {
    log(`${encoding}: ${count} requests of ${SPANS_PER_REQUEST} spans, ${SENDERS} senders`);
    const bodies = requestBodies(template, count, SPANS_PER_REQUEST, encoding);
    const spans = count * SPANS_PER_REQUEST;
    // The span's wire size: its average uncompressed protobuf encoding, request framing included
    // (what an OTel exporter sends per span). The JSON run stores the same spans, so it is read
    // against the same size.
    wire ??= { name: 'span wire size (protobuf)', value: bytes(bodies) / spans };
    const written: number[] = [];
    const onDisk: number[] = [];
    const search: number[] = [];
    const result = await alternate(
      {
        collector: async () => {
          const run = await overHttp(bodies, encoding);
          peakRss = Math.max(peakRss, run.rss);
          written.push(run.writtenBytes / spans);
          onDisk.push(run.diskBytes / spans);
          search.push(run.searchBytes / spans);
          return spans / run.seconds;
        },
        limit: async () => spans / bareDecodeAndAppend(bodies, encoding),
      },
      { rounds: smoke ? 1 : 3, warmup: 0 },
    );
    samples[`${encoding}.collector`] = result.collector!;
    samples[`${encoding}.limit`] = result.limit!;
    samples[`${encoding}.writtenBytesPerSpan`] = written;
    samples[`${encoding}.diskBytesPerSpan`] = onDisk;
    const limit = { name: 'limit: bare decode + append', value: median(result.limit!) };
    const goal = encoding === 'protobuf' ? '≥ 100,000 spans/s and ≥ ×0.5 of limit' : '≥ 60,000 spans/s';
    figures.push(figure(`ingest ${encoding} over HTTP`, median(result.collector!), 'spans/s', limit, goal));
    figures.push(figure(`bytes written per span (${encoding} ingest), search index included`, median(written), 'B', wire));
    figures.push(figure(`db file per span after ${encoding} ingest`, median(onDisk), 'B', wire));
    figures.push(figure(`  of which the search index`, median(search), 'B', wire));
  }
  // Each new execution and trace adds a random entry to an id index; once that index outgrows a
  // transaction's pages, every such entry costs a page of its own. A fresh database hides it.
  const history = smoke ? 8 : HISTORY_REQUESTS;
  // Executions the history starts (the last one may go on into the next request).
  const seeded = Math.ceil((history * SPANS_PER_REQUEST) / template.length);
  log(`protobuf after history: ${history} requests (~${seeded} executions) stored first, untimed; then ${count} requests`);
  // The measured executions start after the history's, as new ones do: started at the same
  // times, they would land amid the history's entries in the time-ordered list indexes.
  const aged = await overHttp(
    requestBodies(template, count, SPANS_PER_REQUEST, 'protobuf', seeded),
    'protobuf',
    lazyRequestBodies(template, history, SPANS_PER_REQUEST, 'protobuf'),
  );
  const spans = count * SPANS_PER_REQUEST;
  samples['history.collector'] = [spans / aged.seconds];
  samples['history.writtenBytesPerSpan'] = [aged.writtenBytes / spans];
  const fresh = { name: 'the same on a fresh database (above)', value: median(samples['protobuf.collector']!) };
  figures.push(figure(`ingest protobuf, ${seeded} executions stored before (one run)`, spans / aged.seconds, 'spans/s', fresh));
  figures.push(figure(`bytes written per span, ${seeded} executions stored before, search index included`, aged.writtenBytes / spans, 'B', wire));
  // The run above may fall between two rounds of background upkeep (ids merged into their
  // indexes, search texts into the FTS5 index); the history holds many.
  const historySpans = aged.history.requests * SPANS_PER_REQUEST;
  samples['history.storing.writtenBytesPerSpan'] = [aged.history.writtenBytes / historySpans];
  figures.push(figure(`bytes written per span while storing those ${seeded} executions (background upkeep and search index included)`, aged.history.writtenBytes / historySpans, 'B', wire));
  if (straceAvailable()) {
    // Issue 13 counts the search index apart: the fresh and the with-history runs again, under
    // strace, which tells each write's table (write-trace.ts). Traced, the collector stores at
    // about half speed, so its transactions group more requests: each traced part is printed
    // beside the traced run's own total, to be read against the untraced totals above.
    log('the fresh and the with-history protobuf runs again under strace: bytes written told apart by table');
    const freshTraced = await overHttp(requestBodies(template, count, SPANS_PER_REQUEST, 'protobuf'), 'protobuf', [], true);
    const agedTraced = await overHttp(
      requestBodies(template, count, SPANS_PER_REQUEST, 'protobuf', seeded),
      'protobuf',
      lazyRequestBodies(template, history, SPANS_PER_REQUEST, 'protobuf'),
      true,
    );
    const parts: Array<[string, WritesByTree, number]> = [
      ['fresh database', freshTraced.trees!.window, spans],
      [`${seeded} executions stored before`, agedTraced.trees!.window, spans],
      [`while storing those ${seeded} executions`, agedTraced.trees!.history, agedTraced.history.requests * SPANS_PER_REQUEST],
    ];
    for (const [label, writes, spanCount] of parts) {
      const search = [...writes.trees].filter(([tree]) => tree.startsWith('search')).reduce((sum, [, n]) => sum + n, 0);
      figures.push(figure(`traced, ${label}: bytes written per span, search index apart`, (writes.total - search) / spanCount, 'B', wire, '≤ ×2 of wire size'));
      figures.push(figure('  the search index (FTS5 tables and pending texts)', search / spanCount, 'B', wire));
      figures.push(figure('  everything, in the traced run', writes.total / spanCount, 'B', wire));
      const top = [...writes.trees].sort((a, b) => b[1] - a[1]).slice(0, 10);
      log(`traced, ${label}, B/span by table: ${top.map(([tree, n]) => `${tree} ${(n / spanCount).toFixed(0)}`).join(', ')}`);
      samples[`traced.${label}.searchApartBytesPerSpan`] = [(writes.total - search) / spanCount];
      samples[`traced.${label}.searchBytesPerSpan`] = [search / spanCount];
    }
  } else {
    figures.push(unavailable('bytes written per span, search index apart', 'B', 'needs strace (Debian package strace) to tell writes apart by table', '≤ ×2 of wire size'));
  }
  figures.push(figure('collector peak RSS during ingest', peakRss, 'MiB'));
  return { bench: 'ingest', smoke, figures, samples };
};

interface HttpRun {
  seconds: number;
  rss: number;
  /** Bytes the collector wrote to its database file and journal during the run. */
  writtenBytes: number;
  /** Size of the database file (and a WAL or journal left beside it) after the collector stopped. */
  diskBytes: number;
  /** Of which the pages of the `q` search index (an FTS5 table named `search`), reported apart. */
  searchBytes: number;
  /** The same count over the history stored first (the background upkeep it led to included). */
  history: { requests: number; writtenBytes: number };
  /** In a traced run: the bytes written to the database and its journal, by table and index. */
  trees?: { history: WritesByTree; window: WritesByTree };
}

/**
 * Sends `bodies` to a new collector and measures them; `history` is stored first, unmeasured.
 * `traced`: the collector runs under strace, and the bytes it writes are told apart by table
 * (write-trace.ts), for the history and for `bodies`.
 */
async function overHttp(bodies: Array<Uint8Array<ArrayBuffer>>, encoding: Encoding, history: Iterable<Uint8Array<ArrayBuffer>> = [], traced = false): Promise<HttpRun> {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const db = join(dir, 'ingest.db');
  const trace = traced ? join(dir, 'writes.strace') : undefined;
  const collector = await startCollectorProcess(['--db', db, '--timeout', '1h', '--max-body', String(64 * 1024 * 1024)], [], { traceWritesTo: trace });
  try {
    // `wchar` counts every write(2): the database file and its journal, but also the HTTP responses on
    // the sockets and any log lines on stdout/stderr. Linux keeps no per-file or socket-only
    // counter a process can read from outside, so the other writes are counted here, exactly,
    // and subtracted: the responses as rebuilt byte for byte from what fetch received (about
    // 200 bytes each, against ~300 KB requests) and the pipes' bytes as received. The rollback
    // journal's writes are in; so would a WAL's checkpoints be, were the engine to use one.
    const sendCounted = async (what: Iterable<Uint8Array<ArrayBuffer>>) => {
      const wcharBefore = collector.wcharBytes();
      const outputBefore = collector.outputBytes();
      const sent = await sendBodies(collector.url, what, encoding, SENDERS);
      return { ...sent, writtenBytes: collector.wcharBytes() - wcharBefore - sent.responseBytes - (collector.outputBytes() - outputBefore) };
    };
    const stored = await sendCounted(history);
    // strace stamps each write with the wall clock.
    const bodiesFrom = Date.now() / 1000;
    const sent = await sendCounted(bodies);
    const { writtenBytes } = sent;
    const rss = collector.peakRssMiB();
    await collector.stop();
    // On disk once the collector is gone: every table and index, a search index too if the
    // engine keeps one in the same file (the engine reports that one on its own).
    const diskBytes = size(db) + size(`${db}-wal`) + size(`${db}-journal`);
    const run: HttpRun = { seconds: sent.seconds, rss, writtenBytes, diskBytes, searchBytes: searchIndexBytes(db), history: { requests: stored.requests, writtenBytes: stored.writtenBytes } };
    if (trace) {
      const all = writesByTree(trace, db);
      const window = writesByTree(trace, db, bodiesFrom);
      run.trees = { window, history: { trees: new Map([...all.trees].map(([tree, n]) => [tree, n - (window.trees.get(tree) ?? 0)])), total: all.total - window.total } };
    }
    return run;
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The limit issue 13 asks ingest to be read against: the same bodies decoded with the
 * collector's own decoders and appended, with nothing else, to a plain SQLite rowid table
 * (WAL, synchronous=FULL, one transaction per request — as durable as the collector's 200).
 * Seconds for all of them.
 */
function bareDecodeAndAppend(bodies: Array<Uint8Array<ArrayBuffer>>, encoding: Encoding): number {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const db = new Database(join(dir, 'limit.db'));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE spans (id INTEGER PRIMARY KEY, body BLOB)');
    const insert = db.prepare('INSERT INTO spans (body) VALUES (?)');
    const append = db.transaction((parts: Buffer[]) => {
      for (const part of parts) insert.run(part);
    });
    const decode = encoding === 'protobuf' ? decodeProtobuf : decodeJson;
    const start = performance.now();
    for (const body of bodies) {
      const request = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const spans = decode(request).spans.length;
      // Each span's body is the bytes it arrived as. The decoders hand back no byte range per
      // span, and re-serialising each span (to JSON, say) would add CPU a bare append does not
      // spend and store other bytes than were received; so the request is cut into `spans`
      // equal slices (no copy): the same number of rows and the same bytes as the spans' own
      // encodings, within the request's few framing bytes.
      append(evenSlices(request, spans));
    }
    return (performance.now() - start) / 1000;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function evenSlices(request: Buffer, count: number): Buffer[] {
  const size = Math.floor(request.length / count);
  return Array.from({ length: count }, (_, i) => request.subarray(i * size, i === count - 1 ? request.length : (i + 1) * size));
}

function bytes(bodies: readonly Uint8Array[]): number {
  return bodies.reduce((sum, b) => sum + b.byteLength, 0);
}

function searchIndexBytes(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name LIKE 'search%'`).pluck().get() as number;
  } finally {
    db.close();
  }
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}
