import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import { destinationExporter, type Destination } from '../exporters.js';
import type { ExportThreadData, Reply, Request } from './messages.js';
import { ResourceIds, snapshotSpan, type ResourceSnapshot } from './span-snapshot.js';

type Pending = (reply: Extract<Reply, { kind: 'done' }>) => void;

/**
 * One worker thread that encodes and sends for every destination. The OTel OTLP serializers
 * run in JavaScript (a batch of 512 spans with ~3 KB of data each takes ~150 ms to encode), and
 * on the application's thread that time lands between its own awaits, as late timers and slower
 * requests. Here the application's thread only copies each finished span into a message.
 *
 * The thread keeps the process alive only while a request is in flight, as the SDK's own
 * exporters do with their sockets. Until it has loaded the exporters (a few hundred ms after
 * start), batches are encoded on the main thread, so the first executions of a process are not
 * shown late.
 */
export class ExportThread {
  /** The exporter to give each destination's batch processor, in the order of `destinations`. */
  readonly exporters: SpanExporter[];
  private readonly worker: Worker;
  private readonly resources = new ResourceIds();
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  /** Why the thread is gone, once it is. */
  private gone: Error | undefined;
  private ready = false;
  /** Settles once the thread has loaded its exporters (resolves) or is gone (rejects). */
  readonly started: Promise<void>;
  private markStarted!: (error?: Error) => void;
  /** Main-thread exporters for the batches that leave before the thread is ready, made on demand. */
  private readonly early: Array<SpanExporter | undefined> = [];

  private constructor(
    script: string,
    private readonly destinations: Destination[],
  ) {
    this.started = new Promise((resolve, reject) => (this.markStarted = (error) => (error ? reject(error) : resolve())));
    // Nobody has to wait for it: the main thread sends meanwhile.
    this.started.catch(() => undefined);
    const data: ExportThreadData = { destinations };
    this.worker = new Worker(script, { workerData: data, name: 'flowtrace export' });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.receive(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`the export thread stopped (exit code ${code})`)));
    this.exporters = destinations.map((_, destination) => this.exporter(destination));
  }

  /** The export thread for `destinations`, or `undefined` (reported) when it cannot start. */
  static start(destinations: Destination[]): ExportThread | undefined {
    // Run from its TypeScript sources (the package's own tests), the built worker is in dist.
    const here = import.meta.url;
    const script = fileURLToPath(new URL(here.endsWith('.ts') ? '../../dist/export-thread/worker.js' : './worker.js', here));
    // A bundle that left the worker's file out: the exporters then run on the application's thread.
    if (!existsSync(script)) {
      diag.warn(`flowtrace: the export thread's script ${script} is missing (bundled?); spans are encoded on the main thread`);
      return undefined;
    }
    try {
      return new ExportThread(script, destinations);
    } catch (error) {
      diag.warn('flowtrace: cannot start the export thread; spans are encoded on the main thread', error);
      return undefined;
    }
  }

  /** Stops the thread once every exporter has shut down (they flush first). */
  async close(): Promise<void> {
    await this.worker.terminate();
  }

  private exporter(destination: number): SpanExporter {
    return {
      export: (spans: ReadableSpan[], done: (result: ExportResult) => void) => {
        if (!this.ready) return this.earlyExporter(destination).export(spans, done);
        const resources: ResourceSnapshot[] = [];
        const snapshots = spans.map((span) => snapshotSpan(span, this.resources.idOf(span.resource, resources)));
        this.request({ kind: 'export', destination, resources, spans: snapshots }, (reply) =>
          done({ code: reply.code, error: reply.error === undefined ? undefined : new Error(reply.error) }),
        );
      },
      forceFlush: async () => {
        await this.early[destination]?.forceFlush?.();
        await this.settle('forceFlush', destination);
      },
      shutdown: async () => {
        await this.early[destination]?.shutdown();
        await this.settle('shutdown', destination);
      },
    };
  }

  private earlyExporter(destination: number): SpanExporter {
    return (this.early[destination] ??= destinationExporter(this.destinations[destination]!));
  }

  private settle(kind: 'forceFlush' | 'shutdown', destination: number): Promise<void> {
    // A thread that is gone has nothing left to flush; the main thread took over its batches.
    if (this.gone) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.request({ kind, destination }, (reply) => (reply.code === ExportResultCode.SUCCESS ? resolve() : reject(new Error(reply.error)))),
    );
  }

  private request(request: DistributiveOmit<Request, 'id'>, onDone: Pending): void {
    const id = this.nextId++;
    if (this.gone) return onDone({ kind: 'done', id, code: ExportResultCode.FAILED, error: this.gone.message });
    this.pending.set(id, onDone);
    if (this.pending.size === 1) this.worker.ref();
    this.worker.postMessage({ ...request, id });
  }

  private receive(reply: Reply): void {
    if (reply.kind === 'ready') {
      this.ready = true;
      this.markStarted();
      return;
    }
    if (reply.kind === 'diag') {
      diag[reply.level](reply.message);
      return;
    }
    const onDone = this.pending.get(reply.id);
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    onDone?.(reply);
  }

  /** The thread is gone: what was in flight failed (the batch processors report it), and later batches are encoded on the main thread. */
  private fail(error: Error): void {
    this.gone ??= error;
    this.ready = false;
    this.markStarted(error);
    if (this.pending.size > 0) diag.error('flowtrace: the export thread failed', error);
    for (const [id, onDone] of this.pending) onDone({ kind: 'done', id, code: ExportResultCode.FAILED, error: error.message });
    this.pending.clear();
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
