import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCollectorProcess } from './collector-process.js';
import { alternate, figure, median, type Bench, type BenchResult } from './measure.js';
import { CONTENT_TYPE } from './send.js';
import { requestBodies, templateExecution } from './spans.js';

const ATTACKERS = 32;
const SPANS_PER_REQUEST = 512;

/**
 * Ingest latency while 32 clients hold chunked `POST /v1/traces` bodies open, sending a byte a
 * second (a slowloris attack: never idle long enough to be cut off, never done), against the
 * same requests on a quiet collector, same run. Each sample is the median latency of a run of
 * requests sent one after another, each a full OTel batch of 512 spans.
 */
export const slowClientsBench: Bench = async ({ smoke, log }): Promise<BenchResult> => {
  const template = await templateExecution();
  const requests = smoke ? 3 : 30;
  const dir = mkdtempSync(join(tmpdir(), 'flowtrace-bench-'));
  const collector = await startCollectorProcess(['--db', join(dir, 'slow.db'), '--timeout', '1h']);
  try {
    log(`${requests} requests of ${SPANS_PER_REQUEST} spans, quiet and under ${ATTACKERS} trickling clients`);
    const samples = await alternate(
      {
        quiet: () => latency(collector.url, requests, template),
        attacked: async () => {
          const attack = await slowloris(collector.url, ATTACKERS);
          try {
            return await latency(collector.url, requests, template);
          } finally {
            attack.forEach((socket) => socket.destroy());
            while ((await reading(collector.url)) > 0) await new Promise((r) => setTimeout(r, 20));
          }
        },
      },
      { rounds: smoke ? 1 : 7, warmup: smoke ? 0 : 1 },
    );
    const quiet = { name: 'quiet collector', value: median(samples.quiet!) };
    return {
      bench: 'slow-clients',
      smoke,
      figures: [figure(`ingest latency under ${ATTACKERS} slowloris clients`, median(samples.attacked!), 'ms', quiet, '≤ ×2 of quiet')],
      samples,
    };
  } finally {
    await collector.stop();
    rmSync(dir, { recursive: true, force: true });
  }
};

/** Median ms per request of `count` fresh bodies sent one after another. */
async function latency(url: string, count: number, template: Awaited<ReturnType<typeof templateExecution>>): Promise<number> {
  const bodies = requestBodies(template, count, SPANS_PER_REQUEST, 'protobuf');
  const times: number[] = [];
  for (const body of bodies) {
    const start = performance.now();
    const response = await fetch(`${url}/v1/traces`, { method: 'POST', body, headers: { 'content-type': CONTENT_TYPE.protobuf } });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`ingest answered ${response.status} under test`);
    times.push(performance.now() - start);
  }
  return median(times);
}

/**
 * `count` clients, each from its own loopback address, that open a chunked request and send one
 * byte of JSON whitespace a second. Resolves once the collector is reading all of them.
 */
async function slowloris(url: string, count: number): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  const sockets = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const socket = connect({ host: hostname, port: Number(port), localAddress: `127.0.0.${i + 2}` });
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write(`POST /v1/traces HTTP/1.1\r\nHost: ${hostname}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n \r\n`);
      const timer = setInterval(() => socket.write('1\r\n \r\n'), 1000);
      socket.once('close', () => clearInterval(timer));
      return socket;
    }),
  );
  while ((await reading(url)) < count) await new Promise((r) => setTimeout(r, 20));
  return sockets;
}

async function reading(url: string): Promise<number> {
  const health = (await (await fetch(`${url}/healthz`)).json()) as { ingest: { reading: number } };
  return health.ingest.reading;
}
