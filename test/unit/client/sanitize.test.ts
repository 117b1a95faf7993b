import { describe, expect, it } from 'vitest';
import { REMOVED_HEADER, sanitizeCopy } from '../../../src/client/consume/sanitize.js';
import { RawTimestamp, TypedValue, typed } from '../../../src/protocol/index.js';

describe('sanitizeCopy: what a retry or dead-letter copy cannot carry is removed and named', () => {
  it('removes non-finite numbers (RabbitMQ closes the connection on them), at any depth, and names them', () => {
    const out = sanitizeCopy(
      {
        ok: 1,
        nan: Number.NaN,
        nested: { inf: Number.POSITIVE_INFINITY },
        list: [1, Number.NEGATIVE_INFINITY],
        f: typed('d', Number.NaN),
      },
      undefined,
    );
    expect(Object.keys(out.headers).sort()).toEqual(['ok', REMOVED_HEADER].sort());
    expect([...out.removed].sort()).toEqual(['f', 'list', 'nan', 'nested']);
    expect(out.headers[REMOVED_HEADER]).toBe(out.removed.join(', '));
  });

  it('keeps what the engine can write back byte-exact: a RawTimestamp header, typed values, bigint', () => {
    const raw = new RawTimestamp(0x000fffffffffffffn);
    const out = sanitizeCopy({ ts: raw, small: typed('B', 5), big: 2n ** 62n }, new Date(1000));
    expect(out.removed).toEqual([]);
    expect(out.headers.ts).toBe(raw);
    expect(out.headers.small).toBeInstanceOf(TypedValue);
    expect(out.headers[REMOVED_HEADER]).toBeUndefined();
    expect(out.timestamp?.getTime()).toBe(1000);
    expect(sanitizeCopy({}, raw).timestamp).toBe(raw);
    expect(sanitizeCopy({}, new Date(-86_400_000)).removed).toEqual([]);
  });

  it('drops an invalid timestamp property and says so', () => {
    const out = sanitizeCopy({}, new Date(Number.NaN));
    expect(out.timestamp).toBeUndefined();
    expect(out.removed).toEqual(['timestamp']);
    expect(out.headers[REMOVED_HEADER]).toBe('timestamp');
  });
});
