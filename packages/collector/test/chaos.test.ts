import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_STREAMS } from '../src/defaults.js';
import { startCli } from './support/cli.js';
import { getJson } from './support/collector.js';

/**
 * Everything the hardening is for, at once, for a minute: 32 clients trickling ingest bodies,
 * 2,000 live-stream connections (the first DEFAULT_MAX_STREAMS served, half of all never read)
 * and a real app exporting a steady load. The app's executions must all be stored, and the
 * collector's memory must stay bounded.
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const RATE = 20;
const STREAMS = 2000;
const SLOWLORIS = 32;
/** The bound this test holds the collector's resident memory to, in MiB. */
const RSS_BOUND_MIB = 300;
const LOAD = new URL('./fixtures/steady-load.mjs', import.meta.url).pathname;

const sockets: Socket[] = [];
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'flowtrace-chaos-'));
afterAll(() => {
  for (const socket of sockets) socket.destroy();
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function open(port: number, request: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(request);
      resolve(socket);
    });
    socket.on('error', () => {});
    socket.once('error', reject);
    sockets.push(socket);
  });
}

/** A client that starts a chunked OTLP body and sends one byte a second, reconnecting when cut off. */
function slowloris(port: number, stop: { done: boolean }): void {
  const start = () =>
    void open(port, 'POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n').then(
      (socket) => {
        const drip = setInterval(() => socket.writable && socket.write('1\r\n\n\r\n'), 1000);
        socket.on('data', () => {});
        socket.once('close', () => {
          clearInterval(drip);
          if (!stop.done) start();
        });
      },
      () => !stop.done && setTimeout(start, 100),
    );
  start();
}

describe('a minute of slow and hostile clients beside a real app', () => {
  it(`stores every execution of the app and keeps the collector under ${RSS_BOUND_MIB} MiB`, async () => {
    const { child: collector, url } = await startCli(['--db', join(dir, 'flowtrace.db')]);
    children.push(collector);
    const port = Number(new URL(url).port);
    const stop = { done: false };
    for (let i = 0; i < SLOWLORIS; i++) slowloris(port, stop);

    // Live streams: every other one never reads what it is sent.
    const answers = { served: 0, refused: 0 };
    for (let i = 0; i < STREAMS; i++) {
      const socket = await open(port, `GET /api/stream HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n`);
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString();
        if (!head.includes('\r\n')) return;
        if (head.startsWith('HTTP/1.1 200')) answers.served++;
        else if (head.startsWith('HTTP/1.1 503')) answers.refused++;
        socket.off('data', onData);
        if (i % 2 === 1) socket.pause();
        else socket.on('data', () => {});
      };
      socket.on('data', onData);
    }
    await expect.poll(() => answers.served + answers.refused, { timeout: 30_000 }).toBe(STREAMS);
    expect(answers.served).toBe(DEFAULT_MAX_STREAMS);

    const load = spawn(process.execPath, [LOAD], { env: { ...process.env, COLLECTOR: url, RATE: String(RATE), SECONDS: String(SECONDS) }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(load);
    let output = '';
    load.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(collector.pid!))), 500);
    const code = await new Promise<number | null>((resolve) => load.once('exit', resolve));
    stop.done = true;
    clearInterval(sampler);
    expect(code).toBe(0);
    const ran = Number(/ran (\d+)/.exec(output)![1]);
    expect(ran).toBeGreaterThan(RATE * SECONDS * 0.5);

    await expect
      .poll(async () => (await getJson(`${url}/api/flows/steady/executions?limit=1&status=fulfilled`)).body?.total, { timeout: 60_000 })
      .toBe(ran);
    const health = (await getJson(`${url}/healthz`)).body;
    console.log(`chaos: ${ran} executions stored of ${ran}; collector RSS peak ${peak.toFixed(0)} MiB; streams ${JSON.stringify(health.streams)}; ingest ${JSON.stringify(health.ingest)}`);
    expect(peak).toBeLessThan(RSS_BOUND_MIB);
    expect(health.streams.refused).toBeGreaterThanOrEqual(STREAMS - DEFAULT_MAX_STREAMS);
  }, (SECONDS + 120) * 1000);
});
