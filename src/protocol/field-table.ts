/**
 * AMQP field tables and arrays, with every type RabbitMQ uses: t b B s u I i l f d D S T F A V x.
 *
 * How JavaScript values map to the wire (chosen so Python services on pika/aio-pika read the same values):
 *
 * | JS value                          | written as | read back as          |
 * |-----------------------------------|------------|-----------------------|
 * | boolean                           | `t`        | boolean               |
 * | integer number in int32 range     | `I`        | number                |
 * | other integer number in int64     | `l`        | bigint                |
 * | bigint (int64 range)              | `l`        | bigint                |
 * | other number (fraction, NaN, -0)  | `d`        | number                |
 * | string                            | `S`        | string                |
 * | Buffer / Uint8Array               | `x`        | Buffer                |
 * | Date                              | `T`        | Date (whole seconds)  |
 * | {@link Decimal}                   | `D`        | Decimal               |
 * | null                              | `V`        | null                  |
 * | array                             | `A`        | array                 |
 * | plain object                      | `F`        | object                |
 * | {@link TypedValue}                | its type   | number / bigint       |
 *
 * 64-bit integers are read as bigint, always, so no value above 2^53 is rounded. The narrow integer
 * types (b B s u i) and float (f) are read as numbers; to write one of them, wrap the value with
 * {@link typed}. Keys whose value is `undefined` are left out, as JSON does.
 * @module
 */
import { EncodeError, ProtocolError } from './errors.js';
import type { BufferReader } from './reader.js';
import type { BufferWriter } from './writer.js';

/** A decimal value: `value × 10^-scale` (AMQP `D`). */
export class Decimal {
  constructor(
    /** Number of decimal places, 0–255. */
    readonly scale: number,
    /** The unscaled value, a signed 32-bit integer. */
    readonly value: number,
  ) {}
  /** The value as a JavaScript number (`value / 10^scale`; may round, as floating point does). */
  toNumber(): number {
    return this.value / 10 ** this.scale;
  }
  /** Exact text of the value in exponent form, `"<value>e-<scale>"` (e.g. `"12345e-2"` for 123.45). */
  toString(): string {
    return `${this.value}e-${this.scale}`;
  }
}

/** The one-letter AMQP type tags that a {@link TypedValue} may force. */
export type NumericFieldType = 'b' | 'B' | 's' | 'u' | 'I' | 'i' | 'l' | 'f' | 'd';

/** A number written with an explicit AMQP type instead of the inferred one. */
export class TypedValue {
  constructor(
    /**
     * The AMQP type to write: `b` / `B` signed / unsigned 8-bit, `s` / `u` signed / unsigned 16-bit,
     * `I` / `i` signed / unsigned 32-bit, `l` signed 64-bit, `f` 32-bit float, `d` 64-bit float.
     */
    readonly type: NumericFieldType,
    /**
     * The number to write. For an integer type, encoding fails with an EncodeError unless it is an integer in the
     * type's range.
     */
    readonly value: number | bigint,
  ) {}
}

/**
 * Wraps a number so it is written with the given AMQP type.
 * @example
 * ```ts
 * headers: { 'x-priority': typed('B', 5), 'x-big': typed('l', 7) }
 * ```
 */
export function typed(type: NumericFieldType, value: number | bigint): TypedValue {
  return new TypedValue(type, value);
}

/** Any value a field table or array can hold. */
export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | Decimal
  | TypedValue
  | null
  | undefined
  | FieldValue[]
  | FieldTable;

/** An AMQP field table. */
export interface FieldTable {
  [key: string]: FieldValue;
}

/** Nesting depth past which a table is refused: bounds recursion on hostile input. */
export const MAX_TABLE_DEPTH = 64;

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const RANGES: Record<string, readonly [number, number]> = {
  b: [-0x80, 0x7f],
  B: [0, 0xff],
  s: [-0x8000, 0x7fff],
  u: [0, 0xffff],
  I: [INT32_MIN, INT32_MAX],
  i: [0, 0xffffffff],
};

function encodeError(path: string, why: string): EncodeError {
  return new EncodeError(`${path} ${why}`);
}

/** Writes a field table (length-prefixed). `path` names the table in error messages. */
export function writeTable(w: BufferWriter, table: FieldTable | undefined, path: string, depth = 0): void {
  if (depth > MAX_TABLE_DEPTH) throw encodeError(path, `nests deeper than ${MAX_TABLE_DEPTH} levels`);
  w.ensure(4);
  const lengthAt = w.pos;
  w.pos += 4;
  if (table !== undefined && table !== null) {
    if (typeof table !== 'object' || Array.isArray(table)) throw encodeError(path, 'must be a plain object');
    for (const key in table) {
      const value = table[key];
      if (value === undefined) continue;
      const keyPath = `${path}[${JSON.stringify(key)}]`;
      w.shortstr(key, `${keyPath} (key)`);
      writeValue(w, value, keyPath, depth);
    }
  }
  w.buf.writeUInt32BE(w.pos - lengthAt - 4, lengthAt);
}

function writeArray(w: BufferWriter, array: FieldValue[], path: string, depth: number): void {
  if (depth > MAX_TABLE_DEPTH) throw encodeError(path, `nests deeper than ${MAX_TABLE_DEPTH} levels`);
  w.ensure(4);
  const lengthAt = w.pos;
  w.pos += 4;
  for (let i = 0; i < array.length; i++) {
    writeValue(w, array[i] === undefined ? null : array[i], `${path}[${i}]`, depth);
  }
  w.buf.writeUInt32BE(w.pos - lengthAt - 4, lengthAt);
}

function writeValue(w: BufferWriter, value: FieldValue, path: string, depth: number): void {
  switch (typeof value) {
    case 'string':
      w.u8(0x53); // S
      w.longstr(value, path);
      return;
    case 'boolean':
      w.u8(0x74); // t
      w.u8(value ? 1 : 0);
      return;
    case 'number':
      writeNumber(w, value);
      return;
    case 'bigint':
      writeTyped(w, 'l', value, path);
      return;
    case 'object':
      break;
    default:
      throw encodeError(path, `has a value of type ${typeof value}, which a field table cannot hold`);
  }
  if (value === null) {
    w.u8(0x56); // V
  } else if (value instanceof Uint8Array) {
    w.u8(0x78); // x
    w.longstr(value, path);
  } else if (value instanceof Date) {
    w.u8(0x54); // T
    w.timestamp(value, path);
  } else if (value instanceof Decimal) {
    if (!Number.isInteger(value.scale) || value.scale < 0 || value.scale > 255) {
      throw encodeError(path, `decimal scale must be an integer 0..255, got ${value.scale}`);
    }
    if (!Number.isInteger(value.value) || value.value < INT32_MIN || value.value > INT32_MAX) {
      throw encodeError(path, `decimal value must be a 32-bit integer, got ${value.value}`);
    }
    w.ensure(6);
    w.buf[w.pos] = 0x44; // D
    w.buf[w.pos + 1] = value.scale;
    w.buf.writeInt32BE(value.value, w.pos + 2);
    w.pos += 6;
  } else if (value instanceof TypedValue) {
    writeTyped(w, value.type, value.value, path);
  } else if (Array.isArray(value)) {
    w.u8(0x41); // A
    writeArray(w, value, path, depth + 1);
  } else {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      throw encodeError(
        path,
        `is a ${proto?.constructor?.name ?? 'non-plain'} object, which a field table cannot hold`,
      );
    }
    w.u8(0x46); // F
    writeTable(w, value as FieldTable, path, depth + 1);
  }
}

function writeNumber(w: BufferWriter, v: number): void {
  if (Number.isInteger(v) && !Object.is(v, -0)) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      w.ensure(5);
      w.buf[w.pos] = 0x49; // I
      w.buf.writeInt32BE(v, w.pos + 1);
      w.pos += 5;
      return;
    }
    if (v >= -(2 ** 63) && v < 2 ** 63) {
      w.ensure(9);
      w.buf[w.pos] = 0x6c; // l
      w.buf.writeBigInt64BE(BigInt(v), w.pos + 1);
      w.pos += 9;
      return;
    }
  }
  w.ensure(9);
  w.buf[w.pos] = 0x64; // d
  w.buf.writeDoubleBE(v, w.pos + 1);
  w.pos += 9;
}

function writeTyped(w: BufferWriter, type: NumericFieldType, value: number | bigint, path: string): void {
  if (type === 'l') {
    const big = typeof value === 'bigint' ? value : Number.isInteger(value) ? BigInt(value) : undefined;
    if (big === undefined || big < INT64_MIN || big > INT64_MAX) {
      throw encodeError(path, `must be a 64-bit signed integer (type l), got ${String(value)}`);
    }
    w.ensure(9);
    w.buf[w.pos] = 0x6c;
    w.buf.writeBigInt64BE(big, w.pos + 1);
    w.pos += 9;
    return;
  }
  const n = typeof value === 'bigint' ? Number(value) : value;
  if (typeof n !== 'number' || (typeof value === 'bigint' && BigInt(n) !== value)) {
    throw encodeError(path, `cannot be written as type ${type}: ${String(value)}`);
  }
  if (type === 'f' || type === 'd') {
    w.ensure(type === 'f' ? 5 : 9);
    w.buf[w.pos] = type.charCodeAt(0);
    if (type === 'f') w.buf.writeFloatBE(n, w.pos + 1);
    else w.buf.writeDoubleBE(n, w.pos + 1);
    w.pos += type === 'f' ? 5 : 9;
    return;
  }
  const range = RANGES[type];
  if (range === undefined) throw encodeError(path, `has unknown field type ${JSON.stringify(type)}`);
  if (!Number.isInteger(n) || n < range[0] || n > range[1]) {
    throw encodeError(path, `must be an integer ${range[0]}..${range[1]} for type ${type}, got ${n}`);
  }
  const size = type === 'b' || type === 'B' ? 1 : type === 's' || type === 'u' ? 2 : 4;
  w.ensure(1 + size);
  w.buf[w.pos] = type.charCodeAt(0);
  const at = w.pos + 1;
  if (type === 'b') w.buf.writeInt8(n, at);
  else if (type === 'B') w.buf.writeUInt8(n, at);
  else if (type === 's') w.buf.writeInt16BE(n, at);
  else if (type === 'u') w.buf.writeUInt16BE(n, at);
  else if (type === 'I') w.buf.writeInt32BE(n, at);
  else w.buf.writeUInt32BE(n, at);
  w.pos += 1 + size;
}

/** Reads a length-prefixed field table. */
export function readTable(r: BufferReader, depth = 0): FieldTable {
  if (depth > MAX_TABLE_DEPTH) throw new ProtocolError(502, `field table nests deeper than ${MAX_TABLE_DEPTH} levels`);
  const len = r.u32();
  r.need(len, 'field table');
  const end = r.pos + len;
  const table: FieldTable = {};
  const outerEnd = r.end;
  // Narrow the reader to the table so a value cannot run past the table's declared length.
  r.end = end;
  try {
    while (r.pos < end) {
      const key = r.shortstr();
      const value = readValue(r, depth);
      // A peer-chosen "__proto__" key must become an own property, not replace the table's prototype.
      if (key === '__proto__')
        Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
      else table[key] = value;
    }
  } finally {
    r.end = outerEnd;
  }
  return table;
}

function readArray(r: BufferReader, depth: number): FieldValue[] {
  if (depth > MAX_TABLE_DEPTH) throw new ProtocolError(502, `field array nests deeper than ${MAX_TABLE_DEPTH} levels`);
  const len = r.u32();
  r.need(len, 'field array');
  const end = r.pos + len;
  const out: FieldValue[] = [];
  const outerEnd = r.end;
  r.end = end;
  try {
    while (r.pos < end) out.push(readValue(r, depth));
  } finally {
    r.end = outerEnd;
  }
  return out;
}

function readValue(r: BufferReader, depth: number): FieldValue {
  const tag = r.u8();
  const buf = r.buf;
  switch (tag) {
    case 0x53: // S
      return r.longstr();
    case 0x49: {
      // I
      r.need(4, 'int32');
      const v = buf.readInt32BE(r.pos);
      r.pos += 4;
      return v;
    }
    case 0x74: // t
      return r.u8() !== 0;
    case 0x6c: {
      // l
      r.need(8, 'int64');
      const v = buf.readBigInt64BE(r.pos);
      r.pos += 8;
      return v;
    }
    case 0x46: // F
      return readTable(r, depth + 1);
    case 0x41: // A
      return readArray(r, depth + 1);
    case 0x54: // T
      return r.timestamp();
    case 0x56: // V
      return null;
    case 0x78: // x
      return r.longBytes();
    case 0x64: {
      // d
      r.need(8, 'double');
      const v = buf.readDoubleBE(r.pos);
      r.pos += 8;
      return v;
    }
    case 0x66: {
      // f
      r.need(4, 'float');
      const v = buf.readFloatBE(r.pos);
      r.pos += 4;
      return v;
    }
    case 0x44: {
      // D
      r.need(5, 'decimal');
      const scale = buf[r.pos]!;
      const value = buf.readInt32BE(r.pos + 1);
      r.pos += 5;
      return new Decimal(scale, value);
    }
    case 0x62: {
      // b
      r.need(1, 'int8');
      return buf.readInt8(r.pos++);
    }
    case 0x42: // B
      return r.u8();
    case 0x73: {
      // s
      r.need(2, 'int16');
      const v = buf.readInt16BE(r.pos);
      r.pos += 2;
      return v;
    }
    case 0x75: // u
      return r.u16();
    case 0x69: // i
      return r.u32();
    default:
      throw new ProtocolError(
        502,
        `malformed field table: unknown value type tag 0x${tag.toString(16).padStart(2, '0')}`,
      );
  }
}
