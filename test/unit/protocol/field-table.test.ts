/**
 * Field tables: decoding of every value tag from hand-built bytes, the JS → wire type mapping documented
 * at the top of src/protocol/field-table.ts, typed(), error paths and hostile input.
 */
import { describe, expect, it } from 'vitest';
import {
  BufferReader,
  BufferWriter,
  Decimal,
  EncodeError,
  type FieldTable,
  type FieldValue,
  type Frame,
  FrameDecoder,
  frameObjects,
  MAX_TABLE_DEPTH,
  type NumericFieldType,
  ProtocolError,
  readTable,
  typed,
  writeMethodFrame,
  writeTable,
} from '../../../src/protocol/index.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers

function hex(...parts: string[]): Buffer {
  const s = parts.join('').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(s)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(s, 'hex');
}

/** A table (with its 4-byte length) from the hex of its entries. */
function tableBytes(...entries: string[]): Buffer {
  const body = hex(...entries);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** Decodes a whole table and checks the reader consumed exactly its bytes. */
function decode(bytes: Buffer): FieldTable {
  // Surround with junk so a read past the declared end would be visible.
  const buf = Buffer.concat([hex('eeee'), bytes, hex('ffffffff')]);
  const r = new BufferReader(buf, 2, 2 + bytes.length);
  const t = readTable(r);
  expect(r.pos).toBe(2 + bytes.length);
  expect(r.end).toBe(2 + bytes.length);
  return t;
}

/** Decodes the single value under key "k" from the hex of its tag and payload. */
function decodeValue(tagAndPayload: string): FieldValue {
  const t = decode(tableBytes('01 6b', tagAndPayload));
  expect(Object.keys(t)).toEqual(['k']);
  return t.k;
}

function encode(table: FieldTable, path = 'headers'): Buffer {
  const w = new BufferWriter(16);
  writeTable(w, table, path);
  return Buffer.from(w.take()!);
}

/** The bytes after key "k" (tag + payload) when encoding { k: value }. */
function encodeValue(value: FieldValue): string {
  const bytes = encode({ k: value });
  expect(bytes.readUInt32BE(0)).toBe(bytes.length - 4);
  expect(bytes.subarray(4, 6).toString('hex')).toBe('016b');
  return bytes.subarray(6).toString('hex');
}

function roundTrip(table: FieldTable): FieldTable {
  return decode(encode(table));
}

function encodeError(table: FieldTable, path = 'headers'): EncodeError {
  try {
    encode(table, path);
  } catch (err) {
    expect(err).toBeInstanceOf(EncodeError);
    return err as EncodeError;
  }
  throw new Error('expected an EncodeError');
}

function decodeError(bytes: Buffer): ProtocolError {
  let caught: unknown;
  try {
    readTable(new BufferReader(bytes, 0, bytes.length));
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  return caught as ProtocolError;
}

/** `{ a: { a: ... {} } }` with `levels` tables nested inside the outer one. */
function nestTables(levels: number): FieldTable {
  let t: FieldTable = {};
  for (let i = 0; i < levels; i++) t = { a: t };
  return t;
}

/** `{ a: [[...[]]] }` with `levels` arrays nested inside the outer table. */
function nestArrays(levels: number): FieldTable {
  let v: FieldValue[] = [];
  for (let i = 1; i < levels; i++) v = [v];
  return { a: v };
}

/** Bytes of a table with `levels` nested tables (empty keys), built without recursion. */
function hostileNestedTables(levels: number): Buffer {
  // Innermost: an empty table. Each level wraps it as: len(4) | key "" (1) | 'F' (1) | inner.
  const total = 4 + levels * 6;
  const buf = Buffer.alloc(total);
  for (let i = 0; i < levels; i++) {
    const at = i * 6;
    buf.writeUInt32BE(total - at - 4, at);
    buf[at + 4] = 0; // empty key
    buf[at + 5] = 0x46; // F
  }
  buf.writeUInt32BE(0, levels * 6);
  return buf;
}

/** Bytes of a table whose one value is `levels` nested arrays. */
function hostileNestedArrays(levels: number): Buffer {
  // table len | key "" | 'A' | len | 'A' | len | ... | len 0
  const total = 4 + 1 + levels * 5;
  const buf = Buffer.alloc(total);
  buf.writeUInt32BE(total - 4, 0);
  buf[4] = 0;
  for (let i = 0; i < levels; i++) {
    const at = 5 + i * 5;
    buf[at] = 0x41; // A
    buf.writeUInt32BE(total - at - 5, at + 1);
  }
  return buf;
}

// ---------------------------------------------------------------------------------------------------------

describe('decoding every value tag from hand-built bytes', () => {
  it('t boolean', () => {
    expect(decodeValue('74 01')).toBe(true);
    expect(decodeValue('74 00')).toBe(false);
    expect(decodeValue('74 02')).toBe(true); // any non-zero octet is true
  });

  it('b int8 (signed)', () => {
    expect(decodeValue('62 80')).toBe(-128);
    expect(decodeValue('62 7f')).toBe(127);
    expect(decodeValue('62 ff')).toBe(-1);
  });

  it('B uint8', () => {
    expect(decodeValue('42 ff')).toBe(255);
    expect(decodeValue('42 00')).toBe(0);
  });

  it('s int16 (signed)', () => {
    expect(decodeValue('73 8000')).toBe(-32768);
    expect(decodeValue('73 7fff')).toBe(32767);
    expect(decodeValue('73 fffe')).toBe(-2);
  });

  it('u uint16', () => {
    expect(decodeValue('75 ffff')).toBe(65535);
    expect(decodeValue('75 0102')).toBe(258);
  });

  it('I int32 (signed)', () => {
    expect(decodeValue('49 80000000')).toBe(-2147483648);
    expect(decodeValue('49 7fffffff')).toBe(2147483647);
    expect(decodeValue('49 ffffffff')).toBe(-1);
  });

  it('i uint32', () => {
    expect(decodeValue('69 ffffffff')).toBe(4294967295);
    expect(decodeValue('69 80000000')).toBe(2147483648);
  });

  it('l int64 as bigint, min and max exact', () => {
    expect(decodeValue('6c 8000000000000000')).toBe(-(2n ** 63n));
    expect(decodeValue('6c 7fffffffffffffff')).toBe(2n ** 63n - 1n);
    expect(decodeValue('6c ffffffffffffffff')).toBe(-1n);
    expect(decodeValue('6c 0000000000000005')).toBe(5n);
    expect(decodeValue('6c 0020000000000001')).toBe(2n ** 53n + 1n); // not representable as a number
  });

  it('f float32 with float32 precision', () => {
    expect(decodeValue('66 3fc00000')).toBe(1.5);
    // 0x3dcccccd is the float32 closest to 0.1: 0.100000001490116119384765625
    expect(decodeValue('66 3dcccccd')).toBe(0.10000000149011612);
    expect(decodeValue('66 3dcccccd')).not.toBe(0.1);
    expect(decodeValue('66 c0490fdb')).toBe(Math.fround(-Math.PI));
    expect(decodeValue('66 7f800000')).toBe(Number.POSITIVE_INFINITY);
    expect(Number.isNaN(decodeValue('66 7fc00000'))).toBe(true);
  });

  it('d float64', () => {
    expect(decodeValue('64 400921fb54442d18')).toBe(Math.PI);
    expect(decodeValue('64 bff0000000000000')).toBe(-1);
    expect(Object.is(decodeValue('64 8000000000000000'), -0)).toBe(true);
    expect(decodeValue('64 fff0000000000000')).toBe(Number.NEGATIVE_INFINITY);
  });

  it('D decimal, including negative values', () => {
    const neg = decodeValue('44 02 fffffffe');
    expect(neg).toBeInstanceOf(Decimal);
    expect(neg).toEqual(new Decimal(2, -2));
    expect((neg as Decimal).toNumber()).toBe(-0.02);
    expect(decodeValue('44 03 0001e240')).toEqual(new Decimal(3, 123456));
    expect(decodeValue('44 ff 80000000')).toEqual(new Decimal(255, -2147483648));
    expect(decodeValue('44 00 00000007')).toEqual(new Decimal(0, 7));
  });

  it('S long string, UTF-8', () => {
    expect(decodeValue('53 00000005 68656c6c6f')).toBe('hello');
    expect(decodeValue('53 00000000')).toBe('');
    expect(decodeValue('53 00000007 c3a9 e282ac f09f')).toBe('é€\ufffd'); // truncated 4-byte sequence
    expect(decodeValue('53 00000004 f09f9087')).toBe('🐇');
  });

  it('T timestamp (seconds) as Date', () => {
    const d = decodeValue('54 000000006553f100');
    expect(d).toBeInstanceOf(Date);
    expect((d as Date).getTime()).toBe(1700000000 * 1000);
    expect((decodeValue('54 0000000000000000') as Date).getTime()).toBe(0);
  });

  it('F nested table', () => {
    expect(decodeValue('46 0000000b 01 61 49 00000001 01 62 74 01')).toEqual({ a: 1, b: true });
    expect(decodeValue('46 00000000')).toEqual({});
  });

  it('A array of mixed values', () => {
    expect(decodeValue('41 00000013 49 00000001 53 00000001 78 56 74 00 41 00000000')).toEqual([
      1,
      'x',
      null,
      false,
      [],
    ]);
    expect(decodeValue('41 00000000')).toEqual([]);
  });

  it('V void as null', () => {
    expect(decodeValue('56')).toBeNull();
  });

  it('x byte array as a Buffer view of the input', () => {
    const v = decodeValue('78 00000003 00ff10');
    expect(Buffer.isBuffer(v)).toBe(true);
    expect((v as Buffer).toString('hex')).toBe('00ff10');
    expect(decodeValue('78 00000000')).toEqual(Buffer.alloc(0));
  });

  it('several entries in order, and a repeated key keeps the last value', () => {
    const t = decode(tableBytes('01 61 49 00000001', '02 6262 53 00000001 7a', '01 61 49 00000002'));
    expect(t).toEqual({ a: 2, bb: 'z' });
    expect(Object.keys(t)).toEqual(['a', 'bb']);
  });

  it('UTF-8 keys', () => {
    expect(decode(tableBytes('03 6bc3a9 56'))).toEqual({ ké: null });
    expect(encode({ ké: null })).toEqual(tableBytes('03 6bc3a9 56'));
  });
});

describe('encoding: the JS → wire mapping', () => {
  it('boolean → t', () => {
    expect(encodeValue(true)).toBe('7401');
    expect(encodeValue(false)).toBe('7400');
  });

  it('integer number in int32 range → I', () => {
    expect(encodeValue(0)).toBe('4900000000');
    expect(encodeValue(1)).toBe('4900000001');
    expect(encodeValue(-1)).toBe('49ffffffff');
    expect(encodeValue(2147483647)).toBe('497fffffff');
    expect(encodeValue(-2147483648)).toBe('4980000000');
  });

  it('integer number beyond int32 → l, read back as bigint', () => {
    expect(encodeValue(2147483648)).toBe('6c0000000080000000');
    expect(encodeValue(-2147483649)).toBe('6cffffffff7fffffff');
    expect(encodeValue(Number.MAX_SAFE_INTEGER)).toBe('6c001fffffffffffff');
    expect(encodeValue(-(2 ** 63))).toBe('6c8000000000000000');
    expect(roundTrip({ k: 2147483648 })).toEqual({ k: 2147483648n });
  });

  it('integer number at or beyond 2^63 (not representable in int64) → d', () => {
    expect(encodeValue(2 ** 63)).toBe('6443e0000000000000');
    expect(encodeValue(2 ** 64)).toBe('6443f0000000000000');
    expect(roundTrip({ k: 2 ** 63 })).toEqual({ k: 2 ** 63 });
  });

  it('fraction, NaN, -0, ±Infinity → d', () => {
    expect(encodeValue(1.5)).toBe('643ff8000000000000');
    expect(encodeValue(Number.NaN)).toBe('647ff8000000000000');
    expect(encodeValue(-0)).toBe('648000000000000000');
    expect(encodeValue(Number.POSITIVE_INFINITY)).toBe('647ff0000000000000');
    expect(encodeValue(Number.NEGATIVE_INFINITY)).toBe('64fff0000000000000');
    const back = roundTrip({ nan: Number.NaN, negZero: -0, frac: -2.75 });
    expect(Number.isNaN(back.nan)).toBe(true);
    expect(Object.is(back.negZero, -0)).toBe(true);
    expect(back.frac).toBe(-2.75);
  });

  it('bigint → l (int64 bounds inclusive)', () => {
    expect(encodeValue(5n)).toBe('6c0000000000000005');
    expect(encodeValue(-(2n ** 63n))).toBe('6c8000000000000000');
    expect(encodeValue(2n ** 63n - 1n)).toBe('6c7fffffffffffffff');
    expect(roundTrip({ k: 2n ** 63n - 1n, m: -(2n ** 63n) })).toEqual({ k: 2n ** 63n - 1n, m: -(2n ** 63n) });
  });

  it('bigint beyond int64 is an EncodeError naming the path', () => {
    const err = encodeError({ big: 2n ** 63n });
    expect(err.message).toContain('headers["big"]');
    expect(encodeError({ small: -(2n ** 63n) - 1n }).message).toContain('headers["small"]');
  });

  it('string → S (UTF-8 byte length)', () => {
    expect(encodeValue('hi')).toBe('53000000026869');
    expect(encodeValue('é')).toBe('5300000002c3a9');
    expect(encodeValue('')).toBe('5300000000');
  });

  it('Buffer and Uint8Array → x, read back as Buffer', () => {
    expect(encodeValue(Buffer.from([1, 2, 255]))).toBe('780000000301' + '02ff');
    expect(encodeValue(new Uint8Array([9, 8]))).toBe('78000000020908');
    // A view with an offset writes only its own bytes.
    const backing = new Uint8Array([0xaa, 1, 2, 0xbb]);
    expect(encodeValue(backing.subarray(1, 3))).toBe('78000000020102');
    const back = roundTrip({ k: new Uint8Array([7]) });
    expect(Buffer.isBuffer(back.k)).toBe(true);
    expect(back.k).toEqual(Buffer.from([7]));
  });

  it('Date → T (whole seconds, truncated)', () => {
    expect(encodeValue(new Date(1700000000 * 1000))).toBe('54000000006553f100');
    expect(encodeValue(new Date(1700000000 * 1000 + 999))).toBe('54000000006553f100');
    expect(roundTrip({ k: new Date(1700000000500) })).toEqual({ k: new Date(1700000000000) });
  });

  it('an invalid Date is an EncodeError naming the path; a Date before 1970 is a negative timestamp', () => {
    expect(encodeError({ d: new Date(Number.NaN) }).message).toContain('headers["d"]');
    expect(encodeValue(new Date(-1000))).toBe('54ffffffffffffffff');
  });

  it('Decimal → D (signed value)', () => {
    expect(encodeValue(new Decimal(2, 12345))).toBe('44020000' + '3039');
    expect(encodeValue(new Decimal(2, -2))).toBe('4402fffffffe');
    expect(roundTrip({ k: new Decimal(5, -123) })).toEqual({ k: new Decimal(5, -123) });
    expect(encodeError({ k: new Decimal(256, 1) }).message).toContain('headers["k"]');
    expect(encodeError({ k: new Decimal(1, 2 ** 31) }).message).toContain('headers["k"]');
    expect(encodeError({ k: new Decimal(1.5, 1) }).message).toContain('headers["k"]');
  });

  it('null → V', () => {
    expect(encodeValue(null)).toBe('56');
  });

  it('array → A, nested arrays and tables', () => {
    expect(encodeValue([1, 'a', [true], { b: null }])).toBe(
      [
        '41 0000001a', //         A, 26 bytes
        '49 00000001', //         1
        '53 00000001 61', //      'a'
        '41 00000002 74 01', //   [true]
        '46 00000003 01 62 56', // { b: null }
      ]
        .join('')
        .replace(/\s+/g, ''),
    );
    expect(encodeValue([])).toBe('4100000000');
  });

  it('undefined array elements are written as V (null)', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    expect(encodeValue([1, undefined, , 2])).toBe('410000000c' + '4900000001' + '56' + '56' + '4900000002');
  });

  it('plain object → F, also with a null prototype', () => {
    expect(encodeValue({ a: 1 })).toBe('4600000007016149' + '00000001');
    const bare = Object.create(null) as FieldTable;
    bare.z = true;
    expect(encodeValue(bare)).toBe('4600000004017a7401');
  });

  it('keys whose value is undefined are skipped', () => {
    expect(encode({ a: undefined, b: 1, c: undefined })).toEqual(tableBytes('01 62 49 00000001'));
    expect(encode({ a: undefined })).toEqual(hex('00000000'));
    expect(roundTrip({ a: undefined, b: 'x' })).toStrictEqual({ b: 'x' });
  });

  it('an undefined or null top-level table is written empty', () => {
    const w = new BufferWriter(16);
    writeTable(w, undefined, 'arguments');
    expect(w.take()!.toString('hex')).toBe('00000000');
  });

  it('keys over 255 bytes are an EncodeError naming the key', () => {
    const key = 'é'.repeat(128); // 256 bytes
    const err = encodeError({ [key]: 1 });
    expect(err.message).toContain('(key)');
    expect(encode({ ['k'.repeat(255)]: 1 }).length).toBe(4 + 1 + 255 + 5);
  });

  it('a complex table round trips', () => {
    const table: FieldTable = {
      s: 'string',
      i: 42,
      neg: -100000,
      big: 2n ** 62n,
      f: 0.5,
      t: true,
      n: null,
      d: new Date(86400 * 1000),
      dec: new Decimal(2, 314),
      bin: Buffer.from('binary'),
      arr: [1, [2, [3, { deep: 'yes' }]]],
      nested: { a: { b: { c: 'd' } } },
    };
    expect(roundTrip(table)).toEqual(table);
  });
});

describe('typed()', () => {
  const cases: [NumericFieldType, number | bigint, string, FieldValue][] = [
    ['b', -128, '6280', -128],
    ['b', 127, '627f', 127],
    ['B', 255, '42ff', 255],
    ['s', -32768, '738000', -32768],
    ['u', 65535, '75ffff', 65535],
    ['I', -2147483648, '4980000000', -2147483648],
    ['i', 4294967295, '69ffffffff', 4294967295],
    ['l', 7, '6c0000000000000007', 7n],
    ['l', -(2n ** 63n), '6c8000000000000000', -(2n ** 63n)],
    ['f', 1.5, '663fc00000', 1.5],
    ['f', 0.1, '663dcccccd', Math.fround(0.1)],
    ['d', 3, '644008000000000000', 3],
    ['B', 5n, '4205', 5],
  ];

  it.each(cases)('typed(%s, %s) → %s', (type, value, bytes, back) => {
    expect(encodeValue(typed(type, value))).toBe(bytes);
    expect(roundTrip({ k: typed(type, value) })).toEqual({ k: back });
  });

  const outOfRange: [NumericFieldType, number | bigint][] = [
    ['b', 128],
    ['b', -129],
    ['B', 256],
    ['B', -1],
    ['s', 32768],
    ['u', 65536],
    ['u', -1],
    ['I', 2147483648],
    ['i', -1],
    ['i', 4294967296],
    ['B', 1.5],
    ['I', Number.NaN],
    ['l', 2n ** 63n],
    ['l', 1.5],
    ['B', 2n ** 60n + 1n],
  ];

  it.each(outOfRange)('typed(%s, %s) out of range → EncodeError naming the path', (type, value) => {
    const err = encodeError({ x: typed(type, value) });
    expect(err.message).toContain('headers["x"]');
    expect(err.code).toBe('ERR_ENCODE');
  });

  it('paths name nested keys and array indexes', () => {
    expect(encodeError({ outer: { inner: typed('B', 300) } }).message).toContain('headers["outer"]["inner"]');
    expect(encodeError({ arr: [1, typed('b', 200)] }, 'arguments').message).toContain('arguments["arr"][1]');
    expect(encodeError({ 'x-"q"': typed('u', -5) }).message).toContain('headers["x-\\"q\\""]');
  });

  it('an unknown type letter is an EncodeError', () => {
    expect(encodeError({ x: typed('q' as NumericFieldType, 1) }).message).toContain('headers["x"]');
  });
});

describe('values a field table cannot hold', () => {
  class Point {
    x = 1;
  }
  const rejected: [string, FieldValue, string][] = [
    ['Map', new Map() as unknown as FieldValue, 'Map'],
    ['Set', new Set() as unknown as FieldValue, 'Set'],
    ['class instance', new Point() as unknown as FieldValue, 'Point'],
    ['RegExp', /x/ as unknown as FieldValue, 'RegExp'],
    ['function', (() => 1) as unknown as FieldValue, 'function'],
    ['symbol', Symbol('s') as unknown as FieldValue, 'symbol'],
  ];

  it.each(rejected)('%s is rejected naming the path', (_, value, what) => {
    const err = encodeError({ nested: { bad: value } });
    expect(err.message).toContain('headers["nested"]["bad"]');
    expect(err.message).toContain(what);
  });

  it('an array or non-object as the table itself is rejected', () => {
    expect(encodeError([] as unknown as FieldTable, 'arguments').message).toContain('arguments');
    expect(encodeError('str' as unknown as FieldTable, 'arguments').message).toContain('arguments');
  });
});

describe('MAX_TABLE_DEPTH', () => {
  it('is 64', () => {
    expect(MAX_TABLE_DEPTH).toBe(64);
  });

  it('encoding accepts nesting up to the limit and round trips it', () => {
    expect(roundTrip(nestTables(MAX_TABLE_DEPTH))).toEqual(nestTables(MAX_TABLE_DEPTH));
    expect(roundTrip(nestArrays(MAX_TABLE_DEPTH))).toEqual(nestArrays(MAX_TABLE_DEPTH));
  });

  it('encoding refuses one level more, with an EncodeError (not a RangeError)', () => {
    expect(encodeError(nestTables(MAX_TABLE_DEPTH + 1)).message).toContain(`${MAX_TABLE_DEPTH}`);
    expect(encodeError(nestArrays(MAX_TABLE_DEPTH + 1)).message).toContain(`${MAX_TABLE_DEPTH}`);
    expect(encodeError(nestTables(100_000)).message).toContain('headers["a"]');
  });

  it('a self-referencing table is an EncodeError, not a stack overflow', () => {
    const t: FieldTable = {};
    t.self = t;
    expect(encodeError(t)).toBeInstanceOf(EncodeError);
  });

  it('decoding accepts the limit and refuses one level more with a 502', () => {
    expect(decode(hostileNestedTables(MAX_TABLE_DEPTH))).toBeTypeOf('object');
    expect(decodeError(hostileNestedTables(MAX_TABLE_DEPTH + 1)).replyCode).toBe(502);
    expect(decode(hostileNestedArrays(MAX_TABLE_DEPTH))).toBeTypeOf('object');
    expect(decodeError(hostileNestedArrays(MAX_TABLE_DEPTH + 1)).replyCode).toBe(502);
  });

  it('hostile nesting (100 000 levels) decodes to a ProtocolError 502, not a RangeError', () => {
    for (const bytes of [hostileNestedTables(100_000), hostileNestedArrays(100_000)]) {
      const err = decodeError(bytes);
      expect(err).not.toBeInstanceOf(RangeError);
      expect(err.replyCode).toBe(502);
      expect(err.message).toMatch(/nests deeper/);
    }
  });

  it('hostile nesting inside a method frame reaches the sink as a 502', () => {
    // queue.declare with an `arguments` table that nests 100 000 levels deep.
    const w = new BufferWriter();
    writeMethodFrame(w, 1, 'queue.declare', { queue: 'q' });
    const frame = Buffer.from(w.take()!);
    const hostile = hostileNestedTables(100_000);
    const payload = Buffer.concat([frame.subarray(7, frame.length - 5), hostile]); // drop the empty table + end
    const bytes = Buffer.concat([hex('01 0001'), Buffer.alloc(4), payload, hex('ce')]);
    bytes.writeUInt32BE(payload.length, 3);
    const frames: Frame[] = [];
    const errors: ProtocolError[] = [];
    const decoder = new FrameDecoder(
      frameObjects(
        (f) => frames.push(f),
        (e) => errors.push(e),
      ),
      0,
    );
    decoder.maxFrameSize = 0;
    expect(() => decoder.push(bytes)).not.toThrow();
    expect(frames).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.replyCode).toBe(502);
  });
});

describe('malformed tables', () => {
  it('a table length past the end of the payload → 502', () => {
    const bytes = hex('00000064 01 61 74 01'); // declares 100 bytes, has 4
    const err = decodeError(bytes);
    expect(err.replyCode).toBe(502);
    expect(err.message).toContain('field table');
  });

  it('a value running past the table length (but inside the buffer) → 502', () => {
    // Table declares 7 bytes: key "a", 'S', length 10 — the string would end past the table.
    const bytes = hex('00000007 01 61 53 0000000a', '6162636465666768696a');
    expect(decodeError(bytes).replyCode).toBe(502);
  });

  it('a nested table longer than its parent → 502', () => {
    const bytes = hex('00000008 01 61 46 00000010', '0000000000000000000000000000000000');
    expect(decodeError(bytes).replyCode).toBe(502);
  });

  it('an array length past the end → 502', () => {
    expect(decodeError(hex('00000008 01 61 41 000000ff 56')).replyCode).toBe(502);
  });

  it('a truncated fixed-size value → 502', () => {
    for (const value of [
      '49 0000',
      '6c 00000000',
      '64 0000',
      '66 00',
      '44 01',
      '73 00',
      '75',
      '69 00',
      '54 00',
      '62',
      '42',
      '74',
    ]) {
      const entry = hex('01 61', value);
      const bytes = Buffer.concat([Buffer.from([0, 0, 0, entry.length]), entry]);
      expect(decodeError(bytes).replyCode, value).toBe(502);
    }
  });

  it('a truncated key → 502', () => {
    expect(decodeError(hex('00000002 05 61')).replyCode).toBe(502);
  });

  it('a missing table length → 502', () => {
    expect(decodeError(hex('0000')).replyCode).toBe(502);
  });

  it.each([
    ['Z', '5a'],
    ['U (0-9 only)', '55'],
    ['NUL', '00'],
    ['0xff', 'ff'],
  ])('unknown tag %s → 502 naming the tag', (_, tag) => {
    const err = decodeError(hex('00000003 01 61', tag));
    expect(err.replyCode).toBe(502);
    expect(err.message).toContain(`0x${tag}`);
  });

  it('the reader end is restored after a table, and after a failure inside a nested table', () => {
    const ok = hex('00000007 01 61 46 00000000', '00'); // one byte after the table
    const r = new BufferReader(ok, 0, ok.length);
    expect(readTable(r)).toEqual({ a: {} });
    expect(r.end).toBe(ok.length);
    expect(r.remaining).toBe(1);

    const bad = hex('00000008 01 61 46 00000001 5a', '000000'); // unknown tag inside the nested table
    const r2 = new BufferReader(bad, 0, bad.length);
    expect(() => readTable(r2)).toThrow(ProtocolError);
    expect(r2.end).toBe(bad.length);
  });
});

describe('keys that collide with Object.prototype', () => {
  it('"constructor" and "toString" round trip as ordinary keys', () => {
    const t = roundTrip({ constructor: 'c', toString: 1 } as FieldTable);
    expect(Object.keys(t).sort()).toEqual(['constructor', 'toString']);
    expect(t.constructor).toBe('c');
  });

  // Regression: readTable used to assign `table[key] = value` on a `{}`, so a "__proto__" key hit the
  // Object.prototype setter: a scalar value was dropped, a table value became the decoded table's prototype.
  it('a "__proto__" key decodes as an own property and does not change the prototype', () => {
    // { "__proto__": "x" }
    const scalar = decode(tableBytes('09 5f5f70726f746f5f5f 53 00000001 78'));
    expect(Object.keys(scalar)).toEqual(['__proto__']);
    expect(Object.getOwnPropertyDescriptor(scalar, '__proto__')?.value).toBe('x');
    // { "__proto__": { polluted: true } }
    const table = decode(tableBytes('09 5f5f70726f746f5f5f 46 0000000b 08 706f6c6c75746564 74 01'));
    expect(Object.getPrototypeOf(table)).toBe(Object.prototype);
    expect((table as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(table)).toEqual(['__proto__']);
    // And it encodes back to the same bytes.
    expect(encode(table)).toEqual(tableBytes('09 5f5f70726f746f5f5f 46 0000000b 08 706f6c6c75746564 74 01'));
  });
});
