import protobuf from 'protobufjs';

/**
 * Protobuf encodings as trees the tests can take apart and put together again: a field is its
 * number, its wire type and its content; a message field of a known type holds its fields, so
 * lengths are recomputed on encoding; `raw` bytes are written as they are (malformed on purpose).
 */
export type WireNode =
  | { field: number; wireType: 0; value: bigint | number }
  | { field: number; wireType: 1 | 5; bytes: Uint8Array }
  | { field: number; wireType: 2; bytes: Uint8Array }
  | { field: number; wireType: 2; type: protobuf.Type; children: WireNode[] }
  | { field: number; wireType: 3; children: WireNode[] }
  | { raw: Uint8Array };

export function varint(value: bigint | number): number[] {
  const out: number[] = [];
  if (typeof value === 'number') {
    for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value % 0x80) | 0x80);
    out.push(value);
    return out;
  }
  for (; value >= 0x80n; value >>= 7n) out.push(Number(value & 0x7fn) | 0x80);
  out.push(Number(value));
  return out;
}

export function tag(field: number, wireType: number): number[] {
  return varint(BigInt(field) * 8n + BigInt(wireType));
}

/** Parses a well-formed encoding of `type`; fields of message types become subtrees. */
export function parseWire(bytes: Uint8Array, type: protobuf.Type): WireNode[] {
  return parseFields(bytes, 0, bytes.length, type).nodes;
}

function parseFields(bytes: Uint8Array, start: number, end: number, type: protobuf.Type | undefined, group?: number) {
  const nodes: WireNode[] = [];
  let pos = start;
  /** Tags and lengths: below 2^53 in anything this parses. */
  const readNumber = () => {
    let value = 0;
    for (let scale = 1; ; scale *= 128) {
      const byte = bytes[pos++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
    }
  };
  const readBigint = () => {
    let value = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = bytes[pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < end) {
    const key = readNumber();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (wireType === 4 && field === group) return { nodes, pos };
    if (wireType === 0) {
      const at = pos;
      let value: bigint | number = readNumber();
      if (value > Number.MAX_SAFE_INTEGER) {
        pos = at;
        value = readBigint();
      }
      nodes.push({ field, wireType, value });
    }
    else if (wireType === 1 || wireType === 5) {
      const size = wireType === 1 ? 8 : 4;
      nodes.push({ field, wireType, bytes: bytes.subarray(pos, pos + size) });
      pos += size;
    } else if (wireType === 2) {
      const length = readNumber();
      const resolved = type?.fieldsById[field]?.resolve().resolvedType;
      if (resolved instanceof protobuf.Type) {
        nodes.push({ field, wireType, type: resolved, children: parseFields(bytes, pos, pos + length, resolved).nodes });
      } else nodes.push({ field, wireType, bytes: bytes.subarray(pos, pos + length) });
      pos += length;
    } else if (wireType === 3) {
      const inner = parseFields(bytes, pos, end, undefined, field);
      nodes.push({ field, wireType, children: inner.nodes });
      pos = inner.pos;
    } else throw new Error(`parseWire takes well-formed encodings; wire type ${wireType} at ${pos}`);
  }
  return { nodes, pos };
}

/** A copy whose lists can be changed without changing `nodes` (bytes are shared: never written to). */
export function cloneWire(nodes: readonly WireNode[]): WireNode[] {
  return nodes.map((node) => ('children' in node ? { ...node, children: cloneWire(node.children) } : node));
}

/** The encoding of `nodes`; `rawAt` receives the byte offset of each `raw` node, in order. */
export function encodeWire(nodes: readonly WireNode[], rawAt: number[] = []): Uint8Array {
  const sizes = new Map<readonly WireNode[], number>();
  const writer = new Writer(new Uint8Array(sizeOf(nodes, sizes)), sizes, rawAt);
  writer.fields(nodes);
  return writer.out;
}

function varintSize(value: bigint | number): number {
  if (typeof value === 'bigint') return varint(value).length;
  let size = 1;
  for (; value >= 0x80; value = Math.floor(value / 0x80)) size++;
  return size;
}

/** Bytes of each list, kept for the writing pass (a message's length comes before it). */
function sizeOf(nodes: readonly WireNode[], sizes: Map<readonly WireNode[], number>): number {
  let size = 0;
  for (const node of nodes) {
    if ('raw' in node) {
      size += node.raw.length;
      continue;
    }
    const key = varintSize(node.field * 8 + node.wireType);
    if (node.wireType === 0) size += key + varintSize(node.value);
    else if (node.wireType === 3) size += key + sizeOf(node.children, sizes) + varintSize(node.field * 8 + 4);
    else {
      const content = 'children' in node ? sizeOf(node.children, sizes) : node.bytes.length;
      size += key + (node.wireType === 2 ? varintSize(content) : 0) + content;
    }
  }
  sizes.set(nodes, size);
  return size;
}

class Writer {
  private pos = 0;
  constructor(
    readonly out: Uint8Array,
    private readonly sizes: Map<readonly WireNode[], number>,
    private readonly rawAt: number[],
  ) {}

  fields(nodes: readonly WireNode[]): void {
    for (const node of nodes) {
      if ('raw' in node) {
        this.rawAt.push(this.pos);
        this.bytes(node.raw);
        continue;
      }
      this.varint(node.field * 8 + node.wireType);
      if (node.wireType === 0) this.varint(node.value);
      else if (node.wireType === 3) {
        this.fields(node.children);
        this.varint(node.field * 8 + 4);
      } else if ('children' in node) {
        this.varint(this.sizes.get(node.children)!);
        this.fields(node.children);
      } else {
        if (node.wireType === 2) this.varint(node.bytes.length);
        this.bytes(node.bytes);
      }
    }
  }

  private varint(value: bigint | number): void {
    if (typeof value === 'bigint') return this.bytes(varint(value));
    for (; value >= 0x80; value = Math.floor(value / 0x80)) this.out[this.pos++] = (value % 0x80) | 0x80;
    this.out[this.pos++] = value;
  }

  private bytes(bytes: ArrayLike<number>): void {
    this.out.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** Every list of fields in a tree (the top level, each message's, each group's), with its message type. */
export function fieldLists(nodes: WireNode[], type: protobuf.Type | undefined): Array<{ list: WireNode[]; type: protobuf.Type | undefined }> {
  const found: Array<{ list: WireNode[]; type: protobuf.Type | undefined }> = [{ list: nodes, type }];
  for (const node of nodes) {
    if ('children' in node) found.push(...fieldLists(node.children, 'type' in node ? node.type : undefined));
  }
  return found;
}
