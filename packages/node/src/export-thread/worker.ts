import { getPriority, setPriority } from 'node:os';
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { diagLogLevelFromString, ExportResultCode, getStringFromEnv, type ExportResult } from '@opentelemetry/core';
import { destinationExporter } from '../exporters.js';
import type { DiagLevel, ExportThreadData, Reply, Request } from './messages.js';
import { SnapshotReader } from './span-snapshot.js';

// The export thread: the OTel SDK's own OTLP exporters, one per destination, encoding and sending
// what the application's batch processors hand over, so that neither runs on the thread the
// application's flows use.
const port = parentPort!;

// This thread works for the application, never instead of it: on Linux a thread's nice value is
// its own, so this lowers only the export thread's priority, and when the cores are busy the
// application's threads run first. Elsewhere (macOS, Windows) the call would lower the whole
// process, so it is left out there. Measured with the realistic tracer bench on 2 cores, a live
// collector sharing them: ~0.3 ms less per 20-step execution (of ~3.5 ms added by tracing).
// Not to the idle class: under a steady load the thread still gets a share, and its queue drains.
// The value is relative to the application's (which the thread starts with): 19 is the lowest.
const EXPORT_THREAD_NICE = 10;
try {
  if (process.platform === 'linux') setPriority(Math.min(19, getPriority() + EXPORT_THREAD_NICE));
} catch {
  // Not allowed here (some containers): the thread runs at the application's priority.
}
const { destinations } = workerData as ExportThreadData;
const send = (reply: Reply) => port.postMessage(reply);

// The exporters report through OTel `diag`, which is per thread: reports go to the application's
// `diag`, whose logger decides what is shown. Only from the level OTEL_LOG_LEVEL asks for (warnings
// by default): the exporters' debug reports format whole requests, which would cost more than
// the encoding this thread takes off the application.
const forward = (level: DiagLevel) => (message: string, ...args: unknown[]) => send({ kind: 'diag', level, message: format(message, ...args) });
const logger: DiagLogger = { error: forward('error'), warn: forward('warn'), info: forward('info'), debug: forward('debug'), verbose: forward('verbose') };
const level = getStringFromEnv('OTEL_LOG_LEVEL');
diag.setLogger(logger, { logLevel: (level ? diagLogLevelFromString(level) : undefined) ?? DiagLogLevel.WARN, suppressOverrideMessage: true });

const exporters = destinations.map(destinationExporter);
const reader = new SnapshotReader();
send({ kind: 'ready' });

port.on('message', (request: Request) => {
  const exporter = exporters[request.destination]!;
  const done = (result: ExportResult) => send({ kind: 'done', id: request.id, code: result.code, error: result.error && format(result.error) });
  const settle = (work: Promise<void>) =>
    work.then(
      () => done({ code: ExportResultCode.SUCCESS }),
      (error: Error) => done({ code: ExportResultCode.FAILED, error }),
    );
  switch (request.kind) {
    case 'export':
      reader.learn(request.resources);
      exporter.export(request.spans.map((span) => reader.span(span)), done);
      return;
    case 'forceFlush':
      return void settle(exporter.forceFlush?.() ?? Promise.resolve());
    case 'shutdown':
      return void settle(exporter.shutdown());
  }
});
