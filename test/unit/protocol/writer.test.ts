import { describe, expect, it } from 'vitest';
import { BufferReader, BufferWriter, EncodeError } from '../../../src/protocol/index.js';

function roundTrip(s: string): { bytes: Buffer; back: string } {
  const w = new BufferWriter(16); // small, so the copy loop and the fallback both make it grow
  w.u8(0xaa); // not at offset 0
  w.shortstr(s, 'field');
  const bytes = Buffer.from(w.take()!);
  const r = new BufferReader(bytes, 1, bytes.length);
  return { bytes, back: r.shortstr() };
}

describe('BufferWriter.shortstr', () => {
  it.each([
    ['empty', ''],
    ['ASCII', 'order.created'],
    ['64 ASCII chars (the copy loop)', 'a'.repeat(64)],
    ['65 ASCII chars (the native encoder)', 'b'.repeat(65)],
    ['non-ASCII after an ASCII run (the loop gives up midway)', `${'c'.repeat(40)}é${'d'.repeat(10)}`],
    ['non-ASCII first', 'ünïcode'],
    ['astral', 'queue-🐇'],
  ])('%s: length octet is the UTF-8 byte length and the bytes read back', (_, s) => {
    const { bytes, back } = roundTrip(s);
    expect(back).toBe(s);
    expect(bytes[1]).toBe(Buffer.byteLength(s));
    expect(bytes.subarray(2)).toEqual(Buffer.from(s, 'utf8'));
  });

  it('refuses more than 255 UTF-8 bytes, naming the field, and writes nothing of it', () => {
    const w = new BufferWriter(16);
    expect(() => w.shortstr('é'.repeat(128), 'basic.publish routingKey')).toThrow(EncodeError);
    expect(() => w.shortstr('é'.repeat(128), 'basic.publish routingKey')).toThrow(/routingKey must be at most 255/);
    expect(w.take()).toBeNull();
  });
});
