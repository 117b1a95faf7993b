/**
 * Values other clients may legally send that a Date or a JS number cannot hold: negative and huge 64-bit
 * timestamps, in a header table and in the timestamp property. They decode exactly (a Date, or a
 * RawTimestamp keeping the 64-bit value) and encode back to the same bytes. A content header that really
 * cannot be decoded fails that message only: the decoder reports it with the header and carries on.
 */
import { describe, expect, it } from 'vitest';
import {
  BufferReader,
  BufferWriter,
  DecodeError,
  decodeBasicProperties,
  EncodeError,
  encodeBasicProperties,
  type FieldTable,
  type Frame,
  FrameDecoder,
  frameObjects,
  type HeaderFrame,
  RawTimestamp,
  readTable,
  writeTable,
} from '../../../src/protocol/index.js';
import { thrown } from '../../helpers/thrown.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A table holding one entry `k` of type T with the given 8 bytes. */
function tableWithTimestamp(bytes: string): Buffer {
  return hex(`0000000b 01 6b 54 ${bytes}`);
}

function decodeTable(b: Buffer): FieldTable {
  return readTable(new BufferReader(b, 0, b.length));
}

function encodeTable(t: FieldTable): string {
  const w = new BufferWriter(64);
  writeTable(w, t, 'headers');
  return w.take()!.toString('hex');
}

describe('64-bit timestamps in a field table (T)', () => {
  it.each([
    { what: '-1 s (a negative int64)', bytes: 'ffffffffffffffff', ms: -1000 },
    { what: '-2048 s', bytes: 'fffffffffffff800', ms: -2048000 },
    { what: '1700000000 s', bytes: '000000006553f100', ms: 1700000000000 },
    { what: '2^53 s (past the old limit, still a Date)', bytes: '0020000000000000', ms: Number.NaN },
  ])('$what decodes exactly and encodes back to the same bytes', ({ bytes, ms }) => {
    const table = decodeTable(tableWithTimestamp(bytes));
    const value = table.k as Date;
    expect(value).toBeInstanceOf(Date);
    if (Number.isNaN(ms)) {
      expect(value).toBeInstanceOf(RawTimestamp);
      expect((value as RawTimestamp).seconds).toBe(2n ** 53n);
    } else {
      expect(value).not.toBeInstanceOf(RawTimestamp);
      expect(value.getTime()).toBe(ms);
    }
    expect(encodeTable(table)).toBe(tableWithTimestamp(bytes).toString('hex'));
  });

  it.each([
    { what: 'int64 min', bytes: '8000000000000000', seconds: -(2n ** 63n) },
    { what: 'int64 max', bytes: '7fffffffffffffff', seconds: 2n ** 63n - 1n },
  ])('$what is a RawTimestamp (an invalid Date) keeping the exact value, and encodes back', ({ bytes, seconds }) => {
    const table = decodeTable(tableWithTimestamp(bytes));
    const value = table.k as RawTimestamp;
    expect(value).toBeInstanceOf(RawTimestamp);
    expect(Number.isNaN(value.getTime())).toBe(true);
    expect(value.seconds).toBe(seconds);
    expect(encodeTable(table)).toBe(tableWithTimestamp(bytes).toString('hex'));
  });

  it('a Date before 1970 encodes as a negative int64, whole seconds rounded down', () => {
    expect(encodeTable({ k: new Date(-1000) })).toBe(tableWithTimestamp('ffffffffffffffff').toString('hex'));
    expect(encodeTable({ k: new Date(-1500) })).toBe(tableWithTimestamp('fffffffffffffffe').toString('hex'));
  });

  it('an invalid Date is an EncodeError naming the header path; NaN numbers encode as a double', () => {
    const err = thrown(EncodeError, () => encodeTable({ a: { d: new Date(Number.NaN) } }));
    expect(err.message).toContain('headers["a"]["d"]');
    expect(err.code).toBe('ERR_ENCODE');
    const outOfRange = thrown(EncodeError, () => encodeTable({ r: new RawTimestamp(2n ** 64n) }));
    expect(outOfRange.message).toContain('headers["r"]');
    expect(encodeTable({ n: Number.NaN })).toBe('0000000b016e647ff8000000000000');
  });
});

describe('the timestamp property', () => {
  /** Properties payload with only the timestamp flag (0x0040) set. */
  const props = (bytes: string) => hex(`0040 ${bytes}`);

  it('a negative int64 decodes to a Date before 1970 and encodes back to the same bytes', () => {
    const b = props('ffffffffffff0000');
    const p = decodeBasicProperties(new BufferReader(b, 0, b.length));
    expect(p.timestamp?.getTime()).toBe(-65536000);
    const w = new BufferWriter(64);
    encodeBasicProperties(w, p);
    expect(w.take()!.toString('hex')).toBe(b.toString('hex'));
  });

  it('int64 min decodes to a RawTimestamp and encodes back', () => {
    const b = props('8000000000000000');
    const p = decodeBasicProperties(new BufferReader(b, 0, b.length));
    expect((p.timestamp as RawTimestamp).seconds).toBe(-(2n ** 63n));
    const w = new BufferWriter(64);
    encodeBasicProperties(w, p);
    expect(w.take()!.toString('hex')).toBe(b.toString('hex'));
  });
});

describe('a content header that cannot be decoded', () => {
  /** A whole content header frame on channel 1 with the given properties bytes and body size 3. */
  function headerFrameBytes(properties: string): Buffer {
    const payload = hex(`003c 0000 0000000000000003 ${properties}`);
    const frame = Buffer.alloc(8 + payload.length);
    frame[0] = 2;
    frame.writeUInt16BE(1, 1);
    frame.writeUInt32BE(payload.length, 3);
    payload.copy(frame, 7);
    frame[frame.length - 1] = 0xce;
    return frame;
  }

  function decodeAll(bytes: Buffer): { frames: Frame[]; errors: unknown[] } {
    const frames: Frame[] = [];
    const errors: unknown[] = [];
    const d = new FrameDecoder(
      frameObjects(
        (f) => frames.push(f),
        (e) => errors.push(e),
      ),
    );
    d.push(bytes);
    return { frames, errors };
  }

  it.each([
    { what: 'a header value with an unknown type tag', properties: '2000 00000004 01 6b 5a 00' },
    { what: 'a header table longer than the frame', properties: '2000 000000ff 01 6b' },
    { what: 'property flags with the reserved bits set', properties: '0003' },
    { what: 'trailing bytes after the properties', properties: '0000 ff' },
  ])(
    '$what: the header is delivered with properties {} and a DecodeError; the decoder carries on',
    ({ properties }) => {
      const body = hex('03 0001 00000003 616263 ce');
      const { frames, errors } = decodeAll(Buffer.concat([headerFrameBytes(properties), body]));
      expect(errors).toEqual([]);
      expect(frames.map((f) => f.type)).toEqual([2, 3]);
      const header = frames[0] as HeaderFrame;
      expect(header.bodySize).toBe(3);
      expect(header.properties).toEqual({});
      expect(header.decodeError).toBeInstanceOf(DecodeError);
      expect(header.decodeError?.code).toBe('ERR_DECODE_PROPERTIES');
      expect(header.decodeError?.message).toMatch(/channel 1/);
    },
  );

  it('a header that decodes has no decodeError', () => {
    const { frames } = decodeAll(headerFrameBytes('0000'));
    expect((frames[0] as HeaderFrame).decodeError).toBeUndefined();
  });
});
