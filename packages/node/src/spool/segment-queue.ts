import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpoolReports } from './reports.js';
import {
  countSpans,
  FILE_HEADER_BYTES,
  fileHeader,
  nextIntactRecord,
  parseFileHeader,
  readRecord,
  recordHeader,
  type SegmentEncoding,
} from './segment-format.js';

export interface QueueOptions {
  /** The destination's name, in reports. */
  destination: string;
  /** How this run encodes the batches it appends. */
  encoding: SegmentEncoding;
  /** Bound on the segment files' bytes; past it the oldest segment goes. */
  maxBytes: number;
  /** fsync each append (and each new segment's directory entry) before it counts as stored. */
  fsync: boolean;
  reports: SpoolReports;
}

interface Segment {
  seq: number;
  path: string;
  /** Bytes of whole records (for a segment of this run: what was written completely). */
  size: number;
  /** Spans in the records appended by this run; `undefined` for segments found on disk. */
  spans: number | undefined;
  /** Spans of its records already sent, refused or skipped. */
  doneSpans: number;
}

/** A record read from the spool, to send; {@link SegmentQueue.ack} once the destination has it. */
export interface SpooledBatch {
  payload: Buffer;
  spans: number;
  encoding: SegmentEncoding;
  segment: Segment;
  end: number;
}

const SEGMENT = /^(\d{12})\.seg$/;
export const FULL = 'the spool reached maxBytes while the destination was down; the oldest spans were dropped';
// A sent-out segment this size or larger is removed as soon as it is caught up, so a crash resends
// at most this much that was already acknowledged (harmless: ingest is idempotent, but wasteful).
const ROLL_WHEN_SENT_BYTES = 64 * 1024;

export function segmentName(seq: number): string {
  return `${String(seq).padStart(12, '0')}.seg`;
}

/** The sequence numbers of the segment files in `dir`, oldest first. */
export async function segmentSeqs(dir: string): Promise<number[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  return names.flatMap((name) => SEGMENT.exec(name)?.[1] ?? []).map(Number).sort((a, b) => a - b);
}

/**
 * One destination's spool: a directory of segment files, appended to at the newest and read in
 * order from the oldest. The sender reads one batch at a time ({@link next}), sends it and acks it;
 * a segment read to its end is deleted. Bounded by `maxBytes`: to make room the oldest segment is
 * deleted whole and its unsent spans counted as dropped. Memory holds one batch being appended,
 * one being sent and a few numbers per segment, however long the outage.
 */
export class SegmentQueue {
  private active: { segment: Segment; file: FileHandle } | undefined;
  /** Where the sender reads in the oldest segment (0: its file header is still to be read). */
  private readOffset = 0;
  private readEncoding: SegmentEncoding = 'protobuf';
  private inFlight: SpooledBatch | undefined;
  private bytes: number;
  private writes: Promise<unknown> = Promise.resolve();
  private closed = false;
  private appends = 0;
  private appended: (() => void) | undefined;
  private readonly segmentBytes: number;

  private constructor(
    private readonly dir: string,
    private readonly segments: Segment[],
    private readonly options: QueueOptions,
  ) {
    this.bytes = segments.reduce((sum, segment) => sum + segment.size, 0);
    // Eight or more segments under the bound, so dropping the oldest drops at most an eighth.
    this.segmentBytes = Math.min(4 * 2 ** 20, Math.max(16 * 1024, Math.floor(options.maxBytes / 8)));
  }

  /** Opens `dir`, with the segments an earlier run (or an adopted predecessor) left there queued first. */
  static async open(dir: string, options: QueueOptions): Promise<SegmentQueue> {
    await mkdir(dir, { recursive: true });
    const segments: Segment[] = [];
    for (const seq of await segmentSeqs(dir)) {
      const path = join(dir, segmentName(seq));
      segments.push({ seq, path, size: (await stat(path)).size, spans: undefined, doneSpans: 0 });
    }
    return new SegmentQueue(dir, segments, options);
  }

  /** Appends one batch; resolves once it is in the file (and on the disk, with fsync). */
  append(payload: Uint8Array, spans: number): Promise<void> {
    return this.serially(() => this.write(payload, spans));
  }

  /** Whether anything spooled is still to be sent. */
  pending(): boolean {
    if (this.inFlight) return true;
    const [oldest, next] = this.segments;
    return next !== undefined || (oldest !== undefined && (oldest !== this.active?.segment || this.readOffset < oldest.size));
  }

  /** How many appends so far: a reader that caught up waits with {@link whenAppendedAfter}. */
  appendCount(): number {
    return this.appends;
  }

  /** Resolves once there was an append after the `count`-th one (at once if there was), or at close. */
  whenAppendedAfter(count: number): Promise<void> {
    if (this.appends !== count || this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.appended = resolve));
  }

  /**
   * The oldest batch not yet sent, or `undefined` when the sender has caught up. Damaged bytes are
   * skipped (and reported) on the way; segments read to their end are deleted.
   */
  async next(): Promise<SpooledBatch | undefined> {
    while (!this.closed) {
      const segment = this.segments[0];
      if (!segment) return undefined;
      if (this.readOffset >= segment.size && this.readOffset > 0) {
        if (segment === this.active?.segment) return undefined;
        await this.remove(segment);
        continue;
      }
      const batch = await this.readFrom(segment);
      if (batch) return (this.inFlight = batch);
    }
    return undefined;
  }

  /** The destination has `batch` (or refused it for good): it is not sent again. */
  ack(batch: SpooledBatch): Promise<void> {
    if (this.inFlight === batch) this.inFlight = undefined;
    // Dropped to make room while it was being sent.
    if (batch.segment !== this.segments[0]) return Promise.resolve();
    this.readOffset = batch.end;
    batch.segment.doneSpans += batch.spans;
    const segment = batch.segment;
    if (segment !== this.active?.segment || this.readOffset < segment.size || segment.size < ROLL_WHEN_SENT_BYTES) return Promise.resolve();
    return this.serially(async () => {
      if (this.active?.segment !== segment || this.readOffset < segment.size) return;
      await this.roll();
      await this.remove(segment);
    });
  }

  /** Stops appending and reading; what is on disk stays for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.appended?.();
    await this.serially(() => this.roll());
  }

  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writes.then(work);
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async write(payload: Uint8Array, spans: number): Promise<void> {
    if (this.closed) throw new Error('the spool is closed');
    const header = recordHeader(payload, spans);
    const bytes = header.length + payload.length;
    await this.makeRoom(bytes);
    if (this.bytes + bytes > this.options.maxBytes) {
      this.options.reports.dropped(this.options.destination, 'full', spans, `a batch of ${bytes} bytes is larger than maxBytes (${this.options.maxBytes})`);
      return;
    }
    const { segment, file } = this.active ?? (await this.createSegment());
    try {
      await writeAll(file, [header, payload]);
      if (this.options.fsync) await file.datasync();
    } catch (error) {
      // Part of the record may be on disk: this segment ends before it (readers stop at `size`),
      // and the next batch starts a new one.
      await this.roll();
      throw error;
    }
    segment.size += bytes;
    segment.spans! += spans;
    this.bytes += bytes;
    if (segment.size >= this.segmentBytes) await this.roll();
    this.appends++;
    const wake = this.appended;
    this.appended = undefined;
    wake?.();
  }

  private async makeRoom(bytes: number): Promise<void> {
    while (this.bytes + bytes > this.options.maxBytes) {
      const oldest = this.segments[0];
      if (!oldest) return;
      if (oldest === this.active?.segment) await this.roll();
      const unsent = await this.unsentSpans(oldest);
      await this.remove(oldest);
      if (unsent > 0) {
        this.options.reports.dropped(this.options.destination, 'full', unsent, FULL);
      }
    }
  }

  /** The sender failed to send `batch` and will read it again later: it is no longer in flight. */
  release(batch: SpooledBatch): void {
    if (this.inFlight === batch) this.inFlight = undefined;
  }

  /** Whether `batch`'s segment was dropped to make room (the sender then reports it, unless it arrived). */
  wasDropped(batch: SpooledBatch): boolean {
    return !this.segments.includes(batch.segment);
  }

  /** The spans of `segment` not yet sent, the batch in flight aside (its send decides). */
  private async unsentSpans(segment: Segment): Promise<number> {
    const sending = this.inFlight?.segment === segment ? this.inFlight.spans : 0;
    if (segment.spans !== undefined) return segment.spans - segment.doneSpans - sending;
    const from = segment === this.segments[0] ? Math.max(this.readOffset, FILE_HEADER_BYTES) : FILE_HEADER_BYTES;
    const file = await open(segment.path, 'r').catch(() => undefined);
    if (!file) return 0;
    try {
      return (await countSpans(file, from, segment.size)) - sending;
    } finally {
      await file.close();
    }
  }

  private async createSegment(): Promise<{ segment: Segment; file: FileHandle }> {
    const seq = (this.segments.at(-1)?.seq ?? 0) + 1;
    const path = join(this.dir, segmentName(seq));
    const file = await open(path, 'wx');
    try {
      await writeAll(file, [fileHeader(this.options.encoding)]);
      if (this.options.fsync) {
        await file.datasync();
        await syncDirectory(this.dir);
      }
    } catch (error) {
      await file.close();
      await unlink(path).catch(() => undefined);
      throw error;
    }
    const segment: Segment = { seq, path, size: FILE_HEADER_BYTES, spans: 0, doneSpans: 0 };
    this.segments.push(segment);
    this.bytes += FILE_HEADER_BYTES;
    return (this.active = { segment, file });
  }

  /** Ends the active segment: the next append starts a new one. */
  private async roll(): Promise<void> {
    const active = this.active;
    this.active = undefined;
    await active?.file.close();
  }

  private async remove(segment: Segment): Promise<void> {
    const index = this.segments.indexOf(segment);
    if (index === -1) return;
    this.segments.splice(index, 1);
    this.bytes -= segment.size;
    if (index === 0) this.readOffset = 0;
    await unlink(segment.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /** The batch at the read offset of `segment`, or `undefined` after skipping what cannot be sent. */
  private async readFrom(segment: Segment): Promise<SpooledBatch | undefined> {
    const { reports } = this.options;
    const file = await open(segment.path, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (!file) {
      await this.remove(segment);
      return undefined;
    }
    try {
      if (this.readOffset === 0) {
        const header = Buffer.alloc(FILE_HEADER_BYTES);
        const { bytesRead } = await file.read(header, 0, FILE_HEADER_BYTES, 0);
        const encoding = parseFileHeader(header.subarray(0, bytesRead));
        if (segment !== this.segments[0]) return undefined;
        if (!encoding) {
          // A crash right after creating the file leaves it empty: nothing to say about that.
          if (segment.size > 0) reports.problem('not a segment', `${segment.path} is not a flowtrace spool segment; skipped and removed`);
          await this.remove(segment);
          return undefined;
        }
        this.readEncoding = encoding;
        this.readOffset = FILE_HEADER_BYTES;
        if (this.readOffset >= segment.size) return undefined;
      }
      const offset = this.readOffset;
      const result = await readRecord(file, offset, segment.size);
      if (segment !== this.segments[0]) return undefined;
      if (result.kind === 'record') return { payload: result.payload, spans: result.spans, encoding: this.readEncoding, segment, end: result.end };
      if (result.kind === 'truncated') {
        reports.problem('damaged record', `${segment.path} ends inside a record at byte ${offset} (a write cut short); the rest of the file is skipped`);
        this.readOffset = segment.size;
        return undefined;
      }
      const next = await nextIntactRecord(file, offset, segment.size);
      if (segment !== this.segments[0]) return undefined;
      reports.problem('damaged record', `${segment.path}: bytes ${offset}–${next} are not an intact record (${result.reason}); skipped`);
      this.readOffset = next;
      return undefined;
    } finally {
      await file.close();
    }
  }
}

async function writeAll(file: FileHandle, buffers: Uint8Array[]): Promise<void> {
  const total = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
  let { bytesWritten } = await file.writev(buffers);
  if (bytesWritten === total) return;
  const whole = Buffer.concat(buffers);
  while (bytesWritten < total) bytesWritten += (await file.write(whole, bytesWritten)).bytesWritten;
}

/** Makes a new file's directory entry durable (Linux: fsync on the directory). */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
