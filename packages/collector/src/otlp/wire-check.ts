import protobuf from 'protobufjs';
import { OtlpDecodeError } from './span.js';

/**
 * Messages (and groups) nested deeper than this are refused: protoc's default recursion limit,
 * and protobufjs's, so nothing it then decodes can hit its own.
 */
export const MAX_NESTING = 100;

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;
const MAX_FIELD_NUMBER = 2 ** 29 - 1;
/** Types protobufjs reads with its 32-bit varint reader, which skips a 6- to 9-byte varint wrongly. */
const NARROW = new Set(['int32', 'uint32', 'sint32', 'bool']);

interface FieldRule {
  name: string;
  type: string;
  wireType: number;
  narrow: boolean;
  message?: MessageRule;
}
type MessageRule = Map<number, FieldRule>;

/**
 * Checks that `bytes` is a well-formed protobuf encoding of `type`, all the way down, and throws
 * an OtlpDecodeError saying what is wrong, at which byte, in which field. protobufjs alone does
 * not: its 32-bit varint reader keeps the low 32 bits of a longer varint (a length of 2^63 reads
 * as 0) and jumps 5 bytes past a 6- to 9-byte one, and it reads a known field whatever its wire
 * type. Unknown fields of a valid encoding pass (OTLP asks receivers to ignore them); their
 * contents are opaque, but for groups, which are walked to find their end.
 */
export function checkWire(bytes: Uint8Array, type: protobuf.Type): void {
  new WireCheck(bytes).message(0, bytes.length, ruleOf(type), 0, undefined);
}

class WireCheck {
  /** The value of the last varint read: exact up to 2^53, larger ones only compared. */
  private value = 0;
  /** How many bytes it took. */
  private length = 0;
  /** Field names from the request down to where the walk is, for messages. */
  private readonly path: string[] = [];

  constructor(private readonly bytes: Uint8Array) {}

  /**
   * Walks the fields in [pos, end); in a group, up to its end-group tag. Returns where it
   * stopped: `end`, or just past the end-group tag (-1 when the group reached `end` unclosed).
   */
  message(pos: number, end: number, rule: MessageRule | undefined, depth: number, group: number | undefined): number {
    while (pos < end) {
      const at = pos;
      pos = this.varint(pos, end, 'a tag');
      if (this.length > 5) this.fail(`a tag written in ${this.length} bytes (at most 5)`, at);
      const field = Math.floor(this.value / 8);
      const wireType = this.value % 8;
      if (field === 0 || field > MAX_FIELD_NUMBER) this.fail(`invalid field number ${field}`, at);
      if (wireType === EGROUP) {
        if (field === group) return pos;
        this.fail(`an end-group tag of field ${field} that no group opened`, at);
      }
      if (wireType > I32) this.fail(`invalid wire type ${wireType} (field ${field})`, at);
      const known = rule?.get(field);
      if (known && known.wireType !== wireType) {
        this.fail(`field ${nameOf(known, field)} has wire type ${wireType}, but a ${known.type} is written with wire type ${known.wireType}`, at);
      }
      switch (wireType) {
        case VARINT: {
          const valueAt = pos;
          pos = this.varint(pos, end, 'the value', known, field);
          if (known?.narrow && this.length > 5 && this.length < 10) {
            this.fail(`the ${known.type} of field ${nameOf(known, field)} written in ${this.length} bytes (5 at most, or 10 for a negative one)`, valueAt);
          }
          break;
        }
        case I64:
        case I32: {
          const size = wireType === I64 ? 8 : 4;
          if (end - pos < size) {
            this.fail(`the ${size}-byte value of field ${nameOf(known, field)} runs past the end ${this.within()} (${end - pos} bytes left)`, pos);
          }
          pos += size;
          break;
        }
        case LEN: {
          const lengthAt = pos;
          pos = this.varint(pos, end, 'the length', known, field);
          if (this.value > end - pos) {
            const length = this.value > Number.MAX_SAFE_INTEGER ? 'over 2^53' : String(this.value);
            this.fail(`field ${nameOf(known, field)} is ${length} bytes long, past the end ${this.within()} (${end - pos} bytes left)`, lengthAt);
          }
          if (this.length > 5) this.fail(`the length of field ${nameOf(known, field)} written in ${this.length} bytes (at most 5)`, lengthAt);
          const stop = pos + this.value;
          if (known?.message) {
            this.enter(known.name, depth, at);
            this.message(pos, stop, known.message, depth + 1, undefined);
            this.path.pop();
          }
          pos = stop;
          break;
        }
        default: // SGROUP: an unknown field's group, walked to find its end
          this.enter(`${field}`, depth, at);
          pos = this.message(pos, end, undefined, depth + 1, field);
          this.path.pop();
          if (pos < 0) this.fail(`the group of field ${field} is not closed before the end ${this.within()}`, at);
      }
    }
    return group === undefined ? pos : -1;
  }

  private enter(name: string, depth: number, at: number): void {
    if (depth + 1 > MAX_NESTING) this.fail(`messages nested deeper than ${MAX_NESTING}`, at);
    this.path.push(name);
  }

  /** Reads a varint at `pos` into `value` and `length`; returns the position after it. */
  private varint(pos: number, end: number, what: string, known?: FieldRule, field?: number): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      if (pos + i >= end) this.fail(`${whose(what, known, field)} is a varint cut off by the end ${this.within()}`, pos);
      const byte = this.bytes[pos + i]!;
      // The 10th byte holds the 64th bit: anything more is a varint longer than protobuf allows.
      if (i === 9 && byte > 1) this.fail(`${whose(what, known, field)} is a varint of more than 64 bits`, pos);
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if (byte < 0x80) {
        this.value = value;
        this.length = i + 1;
        return pos + i + 1;
      }
    }
  }

  private within(): string {
    return this.path.length === 0 ? 'of the body' : `of ${this.path.at(-1)}`;
  }

  private fail(problem: string, at: number): never {
    // A path hundreds of groups deep says no more than its ends do.
    const path = this.path.length > 8 ? [...this.path.slice(0, 4), '…', ...this.path.slice(-3)] : this.path;
    const where = path.length === 0 ? '' : `, inside ${path.join('.')}`;
    throw new OtlpDecodeError(`the body is not a valid protobuf ExportTraceServiceRequest: ${problem}, at byte ${at}${where}`);
  }
}

function nameOf(known: FieldRule | undefined, field: number): string {
  return known ? `${known.name} (${field})` : `${field}`;
}

function whose(what: string, known: FieldRule | undefined, field: number | undefined): string {
  return field === undefined ? what : `${what} of field ${nameOf(known, field)}`;
}

const rules = new Map<protobuf.Type, MessageRule>();

/** What each field number of `type` must look like on the wire; shared, built once per type. */
function ruleOf(type: protobuf.Type): MessageRule {
  const cached = rules.get(type);
  if (cached) return cached;
  const rule: MessageRule = new Map();
  // Set before the fields: AnyValue and KeyValueList refer to each other.
  rules.set(type, rule);
  for (const field of type.fieldsArray) {
    const resolved = field.resolve().resolvedType;
    const message = resolved instanceof protobuf.Type ? ruleOf(resolved) : undefined;
    const wireType = message ? LEN : protobuf.types.basic[field.type as keyof typeof protobuf.types.basic];
    rule.set(field.id, { name: field.name, type: field.type, wireType, narrow: NARROW.has(field.type), ...(message ? { message } : {}) });
  }
  return rule;
}
