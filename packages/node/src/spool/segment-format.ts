import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

/**
 * The bytes of a spool segment file: a file header saying how its records are encoded, then
 * records appended one after the other. Each record is one exported batch, stored as the OTLP
 * request the destination receives, behind a header with its own checksum:
 *
 *   file header (8 bytes)  "FTSP" · version 1 · encoding (0 protobuf, 1 JSON) · 2 zero bytes
 *   record header (16)     magic "FTR1" · payload length u32 · span count u32 · CRC-32 u32
 *   payload                the OTLP ExportTraceServiceRequest, as serialized for the destination
 *
 * Integers are little-endian; the CRC-32 covers the length, the span count and the payload, so a
 * record torn by a crash or a flipped bit is recognised and skipped, never sent. The record magic
 * lets a reader find the next good record after a damaged one.
 */

export type SegmentEncoding = 'protobuf' | 'json';

export const FILE_HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 16;
/** Larger lengths are damage: the SDK's batches are far smaller. */
const MAX_PAYLOAD_BYTES = 256 * 2 ** 20;
const FILE_MAGIC = Buffer.from('FTSP');
const RECORD_MAGIC = Buffer.from('FTR1');
const VERSION = 1;
const ENCODINGS: SegmentEncoding[] = ['protobuf', 'json'];

export function fileHeader(encoding: SegmentEncoding): Buffer {
  const header = Buffer.alloc(FILE_HEADER_BYTES);
  FILE_MAGIC.copy(header, 0);
  header[4] = VERSION;
  header[5] = ENCODINGS.indexOf(encoding);
  return header;
}

/** The encoding a file header names, or `undefined` when it is not a spool segment's header. */
export function parseFileHeader(header: Buffer): SegmentEncoding | undefined {
  if (header.length < FILE_HEADER_BYTES || !header.subarray(0, 4).equals(FILE_MAGIC) || header[4] !== VERSION) return undefined;
  return ENCODINGS[header[5]!];
}

/** The header to write before `payload`. */
export function recordHeader(payload: Uint8Array, spans: number): Buffer {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  RECORD_MAGIC.copy(header, 0);
  header.writeUInt32LE(payload.length, 4);
  header.writeUInt32LE(spans, 8);
  header.writeUInt32LE(crc32(payload, crc32(header.subarray(4, 12))), 12);
  return header;
}

export type ReadResult =
  | { kind: 'record'; payload: Buffer; spans: number; end: number }
  /** The file ends inside this record: the tail of a write cut short. */
  | { kind: 'truncated' }
  /** Bytes that are not a whole, intact record. */
  | { kind: 'corrupt'; reason: string };

/** Reads the record at `offset` of a segment `size` bytes long. */
export async function readRecord(file: FileHandle, offset: number, size: number): Promise<ReadResult> {
  if (size - offset < RECORD_HEADER_BYTES) return { kind: 'truncated' };
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  await readFully(file, header, offset);
  if (!header.subarray(0, 4).equals(RECORD_MAGIC)) return { kind: 'corrupt', reason: 'no record starts there' };
  const length = header.readUInt32LE(4);
  if (length > MAX_PAYLOAD_BYTES) return { kind: 'corrupt', reason: `its length (${length} bytes) is impossible` };
  const end = offset + RECORD_HEADER_BYTES + length;
  if (end > size) return { kind: 'truncated' };
  const payload = Buffer.alloc(length);
  await readFully(file, payload, offset + RECORD_HEADER_BYTES);
  if (crc32(payload, crc32(header.subarray(4, 12))) !== header.readUInt32LE(12)) return { kind: 'corrupt', reason: 'its checksum does not match' };
  return { kind: 'record', payload, spans: header.readUInt32LE(8), end };
}

/**
 * Where reading resumes after a damaged record at `offset`: the next record magic whose record
 * reads back whole with a matching checksum, or runs past the end (a cut-off tail, reported as
 * such); `size` when there is none.
 */
export async function nextIntactRecord(file: FileHandle, offset: number, size: number): Promise<number> {
  const rest = Buffer.alloc(size - offset);
  await readFully(file, rest, offset);
  for (let at = rest.indexOf(RECORD_MAGIC, 1); at !== -1; at = rest.indexOf(RECORD_MAGIC, at + 1)) {
    if ((await readRecord(file, offset + at, size)).kind !== 'corrupt') return offset + at;
  }
  return size;
}

/** The span counts of the records from `offset` on, read from their headers alone (damage ends the count). */
export async function countSpans(file: FileHandle, offset: number, size: number): Promise<number> {
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  let spans = 0;
  while (size - offset >= RECORD_HEADER_BYTES) {
    await readFully(file, header, offset);
    if (!header.subarray(0, 4).equals(RECORD_MAGIC)) break;
    spans += header.readUInt32LE(8);
    offset += RECORD_HEADER_BYTES + header.readUInt32LE(4);
  }
  return spans;
}

async function readFully(file: FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`segment ended at byte ${position + done}, before the ${into.length} bytes expected`);
    done += bytesRead;
  }
}
