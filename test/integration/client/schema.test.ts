/**
 * Standard Schema v1 (zod's own `~standard` and a hand-written one) on consume, publish and RPC against
 * the real broker, and payloads typed as interfaces and primitives at run time.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  consume,
  deadLetterName,
  RpcRemoteError,
  SchemaValidationError,
  type StandardSchemaV1,
} from '../../../src/client/consumer.js';
import { waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, queueInfo, drain } = consumeFixture();

interface Order {
  id: number;
  sku: string;
}

const OrderZ = z.object({ id: z.number().int(), sku: z.string(), qty: z.number().int().default(1) });

/** A Standard Schema written by hand, answering asynchronously. */
const OrderStd: StandardSchemaV1<unknown, Order> = {
  '~standard': {
    version: 1,
    vendor: 'hand',
    validate: async (v) => {
      const o = v as Partial<Order>;
      return typeof o?.sku === 'string' && Number.isInteger(o.id)
        ? { value: { id: o.id as number, sku: o.sku } }
        : { issues: [{ message: 'sku must be a string', path: ['sku'] }] };
    },
  },
};

describe('schemas on consume', () => {
  for (const [label, schema] of [
    ['zod', OrderZ],
    ['hand-written async Standard Schema', OrderStd],
  ] as const) {
    it(`${label}: valid messages reach the handler as the schema's output; invalid ones are dead-lettered naming the path`, async () => {
      const q = queueName('schema.consume');
      const mq = await client({ queues: [{ name: q }] });
      const values: unknown[] = [];
      const consumer = await consume(mq, q, (msg) => void values.push(msg.value), {
        schema: schema as typeof OrderStd,
      });
      await mq.publishMessage(q, { id: 1, sku: 'A' });
      await mq.publishMessage(q, { id: 2, sku: 42 });
      await waitFor(async () => values.length === 1 && (await queueInfo(deadLetterName(q))).messageCount === 1, 'both');
      await consumer.stop();
      expect(values).toEqual([label === 'zod' ? { id: 1, sku: 'A', qty: 1 } : { id: 1, sku: 'A' }]);
      const [dead] = await drain(deadLetterName(q));
      expect(JSON.parse(dead!.body.toString())).toEqual({ id: 2, sku: 42 });
      expect(String(dead!.properties.headers?.['x-warren-error'])).toMatch(/^schema validation failed: sku: /);
    });
  }
});

describe('schemas on publish', () => {
  it('a message failing the schema rejects with SchemaValidationError naming the paths; nothing is sent', async () => {
    const q = queueName('schema.publish');
    const mq = await client({ queues: [{ name: q }] });
    const err = await mq.publishMessage(q, { id: 1.5, sku: 3 } as never, { schema: OrderZ }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaValidationError);
    const e = err as SchemaValidationError;
    expect(e.code).toBe('ERR_SCHEMA_VALIDATION');
    expect(e.issues.map((i) => i.path)).toEqual(['id', 'sku']);
    expect(e.message).toContain(`routing key ${JSON.stringify(q)}`);
    const stdErr = await mq.publishMessage(q, { id: 1 } as never, { schema: OrderStd }).catch((x: unknown) => x);
    expect((stdErr as SchemaValidationError).issues).toEqual([{ path: 'sku', message: 'sku must be a string' }]);
    expect(mq.pendingPublishes).toBe(0);
    expect((await queueInfo(q)).messageCount).toBe(0);
    // A valid one is sent as the schema's output (zod's default filled in).
    await mq.publishMessage(q, { id: 1, sku: 'A', qty: 1 }, { schema: OrderZ });
    const [m] = await drain(q);
    expect(JSON.parse(m!.body.toString())).toEqual({ id: 1, sku: 'A', qty: 1 });
  });
});

describe('schemas on RPC', () => {
  it('request schema (caller and server), reply schema (caller) and response schema (server)', async () => {
    const q = queueName('schema.rpc');
    const mq = await client({ queues: [{ name: q }] });
    const Quote = z.object({ amount: z.number().nonnegative() });
    let served = 0;
    await mq.rpcServer<Order, { amount: number }>(
      q,
      (req) => {
        served++;
        return { amount: req.sku === 'NEG' ? -1 : req.id * 10 };
      },
      { schema: OrderStd, responseSchema: Quote },
    );
    expect(await mq.rpc(q, { id: 3, sku: 'A' }, { schema: Quote, requestSchema: OrderZ, timeoutMs: 5000 })).toEqual({
      amount: 30,
    });
    // The caller's request schema: nothing is sent.
    const before = served;
    const reqErr = await mq.rpc(q, { id: 'x' } as never, { requestSchema: OrderZ }).catch((e: unknown) => e);
    expect(reqErr).toBeInstanceOf(SchemaValidationError);
    expect((reqErr as SchemaValidationError).issues.map((i) => i.path)).toEqual(['id', 'sku']);
    // The server's request schema: an error reply naming the path.
    const srvErr = await mq.rpc(q, { id: 1 }, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(srvErr).toBeInstanceOf(RpcRemoteError);
    expect((srvErr as RpcRemoteError).remoteMessage).toContain('sku: sku must be a string');
    expect(served).toBe(before);
    // The server's response schema: the handler ran, its reply was refused.
    const resErr = await mq.rpc(q, { id: 1, sku: 'NEG' }, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(resErr).toBeInstanceOf(RpcRemoteError);
    expect((resErr as RpcRemoteError).remoteMessage).toMatch(/the reply failed schema validation: amount: /);
    expect((resErr as RpcRemoteError).remoteCode).toBe('ERR_SCHEMA_VALIDATION');
    // The caller's reply schema.
    const Strict = z.object({ amount: z.string() });
    const replyErr = await mq.rpc(q, { id: 2, sku: 'A' }, { schema: Strict, timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(replyErr).toBeInstanceOf(SchemaValidationError);
    expect((replyErr as SchemaValidationError).message).toContain('the reply failed schema validation: amount:');
  });
});

describe('payloads typed as interfaces, and primitives', () => {
  it('publishMessage sends an interface-typed object and numbers, booleans and null as JSON', async () => {
    const q = queueName('payload.types');
    const mq = await client({ queues: [{ name: q }] });
    const order: Order = { id: 7, sku: 'Z' };
    for (const body of [order, 42, 0.5, true, false, null, [1, 'a']]) await mq.publishMessage(q, body);
    const got = await drain(q);
    expect(got.map((m) => JSON.parse(m.body.toString()))).toEqual([order, 42, 0.5, true, false, null, [1, 'a']]);
    expect(new Set(got.map((m) => m.properties.contentType))).toEqual(new Set(['application/json']));
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, undefined, () => 1]) {
      await expect(mq.publishMessage(q, bad as never)).rejects.toMatchObject({ code: 'ERR_INVALID_MESSAGE' });
      await expect(mq.rpc(q, bad as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    }
    expect((await queueInfo(q)).messageCount).toBe(0);
  });
});
