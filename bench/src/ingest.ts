import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJson, decodeProtobuf, SqliteStore } from '@flowtrace/collector';
import { startCollectorProcess } from './collector-process.js';
import { alternate, figure, median, type Bench, type BenchResult, type Figure } from './measure.js';
import { requestBodies, templateExecution, type Encoding } from './spans.js';

const SPANS_PER_REQUEST = 512;
const CONNECTIONS = 4;
const CONTENT_TYPE: Record<Encoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/**
 * Spans per second the collector acknowledges over loopback (bodies encoded by the OTel JS
 * serialisers, several connections, a durable SQLite file), against the limit on this machine:
 * the same bodies decoded, projected and inserted in one process without HTTP.
 */
export const ingestBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const template = await templateExecution();
  const count = smoke ? 4 : 120;
  const figures: Figure[] = [];
  const samples: Record<string, number[]> = {};
  let peakRss = 0;
  for (const encoding of ['protobuf', 'json'] as const) {
    log(`${encoding}: ${count} requests of ${SPANS_PER_REQUEST} spans, ${CONNECTIONS} connections`);
    const bodies = requestBodies(template, count, SPANS_PER_REQUEST, encoding);
    const spans = count * SPANS_PER_REQUEST;
    const result = await alternate(
      {
        collector: async () => {
          const { seconds, rss } = await overHttp(bodies, encoding);
          peakRss = Math.max(peakRss, rss);
          return spans / seconds;
        },
        limit: async () => spans / inProcess(bodies, encoding),
      },
      { rounds: smoke ? 1 : 3, warmup: 0 },
    );
    samples[`${encoding}.collector`] = result.collector!;
    samples[`${encoding}.limit`] = result.limit!;
    figures.push(
      figure(`ingest ${encoding} over HTTP`, median(result.collector!), 'spans/s', { name: 'in-process decode+project+insert', value: median(result.limit!) }),
    );
  }
  figures.push(figure('collector peak RSS during ingest', peakRss, 'MiB'));
  return { bench: 'ingest', smoke, figures, samples };
};

async function overHttp(bodies: Array<Uint8Array<ArrayBuffer>>, encoding: Encoding): Promise<{ seconds: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const collector = await startCollectorProcess(['--db', join(dir, 'ingest.db'), '--timeout', '1h', '--max-body', String(64 * 1024 * 1024)]);
  try {
    let next = 0;
    const start = performance.now();
    const sender = async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        // The OTel exporter retries on 503; so does this sender.
        for (;;) {
          const response = await fetch(`${collector.url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': CONTENT_TYPE[encoding] } });
          await response.arrayBuffer();
          if (response.status === 200) break;
          if (response.status !== 503 && response.status !== 429) throw new Error(`ingest answered ${response.status}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, sender));
    const seconds = (performance.now() - start) / 1000;
    return { seconds, rss: collector.peakRssMiB() };
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Seconds to decode, project and commit every body (one transaction each) with no HTTP. */
function inProcess(bodies: Array<Uint8Array<ArrayBuffer>>, encoding: Encoding): number {
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const store = new SqliteStore({ path: join(dir, 'limit.db'), defaultTimeoutMs: 3_600_000 });
  try {
    const decode = encoding === 'protobuf' ? decodeProtobuf : decodeJson;
    const start = performance.now();
    for (const body of bodies) store.ingest(decode(Buffer.from(body.buffer, body.byteOffset, body.byteLength)).spans, Date.now());
    return (performance.now() - start) / 1000;
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
