/**
 * Schemas without a schema library: Standard Schema v1 (hand-written, sync and async, and zod's own
 * `~standard`), the older parse/safeParse shapes, and the issue paths errors name.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { decodePayload } from '../../../src/client/consume/message.js';
import {
  isSchema,
  SchemaValidationError,
  type StandardSchemaV1,
  validateOrThrow,
  validateValue,
} from '../../../src/client/consume/schema.js';
import { WarrenError } from '../../../src/protocol/errors.js';

interface Order {
  id: number;
  sku: string;
}

/** A Standard Schema written by hand: `{ id: integer, sku: string }`, optionally answering asynchronously. */
function orderSchema(async = false): StandardSchemaV1<unknown, Order> & { calls: number } {
  const schema = {
    calls: 0,
    '~standard': {
      version: 1 as const,
      vendor: 'test',
      validate(value: unknown) {
        schema.calls++;
        const v = value as Partial<Record<keyof Order, unknown>> | null;
        const issues: { message: string; path: (string | { key: string })[] }[] = [];
        if (typeof v !== 'object' || v === null) issues.push({ message: 'not an object', path: [] });
        else {
          if (!Number.isInteger(v.id)) issues.push({ message: 'must be an integer', path: ['id'] });
          if (typeof v.sku !== 'string') issues.push({ message: 'must be a string', path: [{ key: 'sku' }] });
        }
        const result = issues.length > 0 ? { issues } : { value: { id: v!.id as number, sku: v!.sku as string } };
        return async ? Promise.resolve(result) : result;
      },
    },
  };
  return schema;
}

describe('Standard Schema v1', () => {
  it('a hand-written synchronous schema validates synchronously and gives its output', () => {
    const s = orderSchema();
    expect(isSchema(s)).toBe(true);
    const ok = validateValue(s, { id: 1, sku: 'A', extra: true });
    expect(ok).toEqual({ ok: true, value: { id: 1, sku: 'A' } }); // the output, not the input
    const bad = validateValue(s, { id: 1.5 });
    expect(bad).toEqual({
      ok: false,
      issues: [
        { path: 'id', message: 'must be an integer' },
        { path: 'sku', message: 'must be a string' },
      ],
    });
  });

  it('an asynchronous schema is awaited', async () => {
    const s = orderSchema(true);
    const pending = validateValue(s, { id: 2, sku: 'B' });
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toEqual({ ok: true, value: { id: 2, sku: 'B' } });
    const decoded = await decodePayload(Buffer.from('{"id":"x","sku":"B"}'), true, s);
    expect(decoded).toMatchObject({ ok: false, error: 'schema validation failed: id: must be an integer' });
  });

  it('zod (≥ 3.24) is used through ~standard, nested paths named', async () => {
    const Cart = z.object({ user: z.string(), items: z.array(z.object({ sku: z.string(), qty: z.number().int() })) });
    expect(isSchema(Cart)).toBe(true);
    const err = await validateOrThrow(
      Cart,
      {
        user: 'u',
        items: [
          { sku: 'a', qty: 1 },
          { sku: 3, qty: 1.5 },
        ],
      },
      'the cart',
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SchemaValidationError);
    expect(err).toBeInstanceOf(WarrenError);
    const e = err as SchemaValidationError;
    expect(e.code).toBe('ERR_SCHEMA_VALIDATION');
    expect(e.recoverable).toBe(false);
    expect(e.issues.map((i) => i.path)).toEqual(['items[1].sku', 'items[1].qty']);
    expect(e.message).toMatch(/^the cart failed schema validation: items\[1\]\.sku: .+; items\[1\]\.qty: /);
    expect(await validateOrThrow(Cart, { user: 'u', items: [] }, 'x')).toEqual({ user: 'u', items: [] });
  });

  it('a schema whose validate throws is a failure naming the root, never a throw', () => {
    const s: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 't',
        validate() {
          throw new Error('boom');
        },
      },
    };
    expect(validateValue(s, 1)).toMatchObject({
      ok: false,
      issues: [{ path: '(root)', message: 'the schema threw: boom' }],
    });
  });

  it('odd path keys are quoted, indexes bracketed', () => {
    const s: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 't', validate: () => ({ issues: [{ message: 'm', path: ['a b', 0, 'c'] }] }) },
    };
    expect(validateValue(s, 1)).toMatchObject({ ok: false, issues: [{ path: '["a b"][0].c' }] });
  });
});

describe('parse / safeParse schemas are still accepted', () => {
  it('safeParse: success gives data, failure gives zod-style issues', () => {
    const s = {
      safeParse: (v: unknown) =>
        typeof v === 'number'
          ? { success: true, data: v * 2 }
          : { success: false, error: { issues: [{ path: ['n'], message: 'nan' }] } },
    };
    expect(validateValue(s, 2)).toEqual({ ok: true, value: 4 });
    expect(validateValue(s, 'x')).toMatchObject({ ok: false, issues: [{ path: 'n', message: 'nan' }] });
  });

  it('parse: a throw is the failure', () => {
    const s = {
      parse: (v: unknown) => {
        if (v !== 'ok') throw new Error('not ok');
        return v;
      },
    };
    expect(validateValue(s, 'ok')).toEqual({ ok: true, value: 'ok' });
    expect(validateValue(s, 'no')).toMatchObject({ ok: false, issues: [{ path: '(root)', message: 'not ok' }] });
  });

  it('anything else is not a schema', () => {
    for (const v of [null, undefined, 1, 'x', {}, { parse: 1 }, { '~standard': {} }]) expect(isSchema(v)).toBe(false);
  });
});
