import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Destination } from '../exporters.js';
import { destinationFolder, encodingOf, otlpBatchSender } from './otlp-batches.js';
import { adoptDeadFolders, claimOwnFolder } from './ownership.js';
import { SpoolReports } from './reports.js';
import { SegmentQueue } from './segment-queue.js';
import { SpoolSender } from './sender.js';
import { SpoolingExporter, type SpoolPipe } from './spooling-exporter.js';

export interface SpoolSettings {
  dir: string;
  maxBytes: number;
  fsync: boolean;
}

export interface Spool {
  /** One exporter per destination, in the order given. */
  exporters: SpanExporter[];
  /** Sends what is spooled, per destination until an attempt fails. */
  flush(): Promise<void>;
  /** Stops every sender, closes the files and gives the folder up; what is left waits for the next start. */
  close(): Promise<void>;
}

/**
 * Starts the spool of this process: claims its replica folder (throws when the root cannot be
 * used), then, in the background, adopts dead predecessors' folders and opens one queue and
 * sender per destination — each destination on its own, so a dead one never holds back another.
 */
export function startSpool(settings: SpoolSettings, replicaId: string, destinations: Destination[]): Spool {
  mkdirSync(settings.dir, { recursive: true });
  const own = claimOwnFolder(settings.dir, replicaId);
  const reports = new SpoolReports();
  const folders = destinations.map(destinationFolder);
  const adopted = adoptDeadFolders(settings.dir, own, folders, reports);
  const exporters = destinations.map((destination, i) => {
    const name = folders[i]!;
    const encoding = encodingOf(destination);
    const send = otlpBatchSender(destination);
    const pipe: Promise<SpoolPipe> = adopted.then(async () => {
      const queue = await SegmentQueue.open(join(own.dir, name), { destination: name, encoding, maxBytes: settings.maxBytes, fsync: settings.fsync, reports });
      return { queue, sender: new SpoolSender(name, queue, send, reports) };
    });
    pipe.catch((error: unknown) => reports.problem('spool write', `cannot open the spool folder for ${name}; batches are sent without it`, error));
    return new SpoolingExporter(name, encoding, pipe, send, reports);
  });
  return {
    exporters,
    flush: async () => {
      await Promise.all(exporters.map((exporter) => exporter.forceFlush()));
    },
    close: async () => {
      await Promise.all(exporters.map((exporter) => exporter.close()));
      own.release();
    },
  };
}
