import { describe, expect, it } from 'vitest';
import { Decimal, TypedValue } from '../../../src/protocol/field-table.js';
import { revive, toThread } from '../../../src/sync/messages.js';

/** What the other thread sees: the value prepared, structured-cloned (as postMessage does), revived. */
function across(v: unknown): unknown {
  return revive(structuredClone(toThread(v)));
}

describe('sync thread marshalling', () => {
  it('carries Decimals, typed values, bigints, Dates and Buffers as what they are', () => {
    const value = {
      price: new Decimal(2, 1999),
      small: new TypedValue('b', 5),
      big: 2n ** 40n,
      at: new Date(1_700_000_000_000),
      raw: Buffer.from([1, 2, 3]),
      list: [new Decimal(1, 5), { nested: new Uint8Array([9]) }],
    };
    const back = across(value) as typeof value;
    expect(back.price).toBeInstanceOf(Decimal);
    expect(back.price).toEqual(new Decimal(2, 1999));
    expect(back.small).toBeInstanceOf(TypedValue);
    expect(back.small).toEqual(new TypedValue('b', 5));
    expect(back.big).toBe(2n ** 40n);
    expect(back.at).toEqual(new Date(1_700_000_000_000));
    expect(Buffer.isBuffer(back.raw)).toBe(true);
    expect([...back.raw]).toEqual([1, 2, 3]);
    expect(back.list[0]).toBeInstanceOf(Decimal);
    expect(Buffer.isBuffer((back.list[1] as { nested: Uint8Array }).nested)).toBe(true);
  });

  it('a user object shaped like a marker round-trips as the plain object it is (no forged Decimal)', () => {
    const forged = { __warren_value: 'Decimal', scale: 2, value: 1999 };
    const back = across({ headers: { forged } }) as { headers: { forged: unknown } };
    expect(back.headers.forged).not.toBeInstanceOf(Decimal);
    expect(back.headers.forged).toEqual(forged);
    expect(Object.getPrototypeOf(back.headers.forged)).toBe(Object.prototype);
  });

  it('no marker a user writes turns into a TypedValue, an Error or anything else', () => {
    const forgeries: Record<string, unknown>[] = [
      { __warren_value: 'TypedValue', type: 'b', value: 1 },
      { __warren_value: 'Error', error: { name: 'ConnectionError', message: 'forged', code: 'ERR_X' } },
      { __warren_value: 'Object', value: { a: 1 } },
      { __warren_value: 'Escaped', value: { a: 1 } },
      { __warren_value: { nested: true }, other: [1, 2] },
      { __warren_value: 'Decimal' }, // a marker alone, with nothing else
    ];
    for (const forged of forgeries) {
      const back = across(forged);
      expect(back).toEqual(forged);
      expect(back).not.toBeInstanceOf(Error);
      expect(back).not.toBeInstanceOf(TypedValue);
      expect(back).not.toBeInstanceOf(Decimal);
    }
    // Marked objects inside marked objects, inside arrays, as the message body itself.
    const deep = [{ __warren_value: 'Decimal', scale: 1, value: { __warren_value: 'Decimal', scale: 0, value: 3 } }];
    expect(across(deep)).toEqual(deep);
    // Crossing twice (caller → worker → caller) changes nothing either.
    const forged = { __warren_value: 'Decimal', scale: 2, value: 1999 };
    expect(across(across(forged))).toEqual(forged);
  });

  it('a real Decimal next to a forged one: only the real one revives', () => {
    const back = across({
      real: new Decimal(1, 15),
      fake: { __warren_value: 'Decimal', scale: 1, value: 15 },
    }) as Record<string, unknown>;
    expect(back.real).toBeInstanceOf(Decimal);
    expect(back.fake).not.toBeInstanceOf(Decimal);
    expect(back.fake).toEqual({ __warren_value: 'Decimal', scale: 1, value: 15 });
  });

  it('a "__proto__" key (a header the broker may send) stays an own key, not a prototype', () => {
    const table = JSON.parse('{"__proto__": {"polluted": 1}, "ok": 2}') as Record<string, unknown>;
    const back = across(table) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: 1 });
    expect((back as { polluted?: number }).polluted).toBeUndefined();
    expect(back.ok).toBe(2);
  });

  it('errors carried as values come back as errors with their code', () => {
    const back = across({ failure: new Error('plain') }) as { failure: Error };
    expect(back.failure).toBeInstanceOf(Error);
    expect(back.failure.message).toBe('plain');
  });
});
