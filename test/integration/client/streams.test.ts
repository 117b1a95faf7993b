/**
 * Stream queues over AMQP 0-9-1, on both brokers: where a consumer starts (first, an offset, a
 * timestamp), where it resumes after its connection is killed (exactly once after the processed point),
 * Bloom filters re-checked client-side, and failing handlers on a queue that cannot requeue.
 */
import { describe, expect, it } from 'vitest';
import type { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import {
  consume,
  deadLetterName,
  type HandlerError,
  retryQueueName,
  STREAM_FILTER_VALUE_HEADER,
} from '../../../src/client/consumer.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { connectionPid } from '../engine/engine-helpers.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, drain, adminChannelDo } = consumeFixture();

const streamQueue = (name: string) => ({ name, arguments: { 'x-queue-type': 'stream' as const } });

/** Publishes `count` messages `m<i>` (in batches, each confirmed), with optional headers per message. */
async function publishMany(
  mq: AsyncRabbitMQ,
  queue: string,
  from: number,
  count: number,
  headers?: (i: number) => Record<string, string>,
): Promise<void> {
  const batch = 500;
  for (let start = from; start < from + count; start += batch) {
    const end = Math.min(start + batch, from + count);
    const ps: Promise<void>[] = [];
    for (let i = start; i < end; i++) ps.push(mq.publishMessage(queue, `m${i}`, { headers: headers?.(i) }));
    await Promise.all(ps);
  }
}

/** A delivery's stream offset as a number. */
function offsetOf(headers: Record<string, unknown>): number {
  return Number(headers['x-stream-offset'] as bigint);
}

async function killConnection(name: string): Promise<void> {
  const pid = await connectionPid(name);
  if (pid === undefined) throw new Error(`connection ${name} not found`);
  await rabbitmqctl('close_connection', pid, 'warren test: killing this connection');
}

describe('streams: where a consumer starts', () => {
  it("reads 10 000 messages from 'first', from an offset in the middle and from a timestamp", async () => {
    const q = queueName('stream.offsets');
    const mq = await client({ queues: [streamQueue(q)] });
    await publishMany(mq, q, 0, 10_000);

    const fromFirst: number[] = [];
    const c1 = await consume(mq, q, (m) => void fromFirst.push(offsetOf(m.headers)), {
      offset: 'first',
      prefetch: 500,
    });
    await waitFor(() => fromFirst.length >= 10_000, '10 000 from first', 20_000);
    const fromMiddle: string[] = [];
    const c2 = await consume(mq, q, (m) => void fromMiddle.push(m.body.toString()), { offset: 5000, prefetch: 500 });
    await waitFor(() => fromMiddle.length >= 5000, '5000 from offset 5000', 20_000);
    await sleep(200);
    await c1.stop();
    await c2.stop();
    expect(fromFirst).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(fromMiddle).toEqual(Array.from({ length: 5000 }, (_, i) => `m${5000 + i}`));

    // A timestamp: chunks are stamped to the second, so leave a clear second between the two batches.
    await sleep(1100);
    const since = new Date();
    await sleep(1100);
    await publishMany(mq, q, 10_000, 100);
    const fromDate: string[] = [];
    const c3 = await consume(mq, q, (m) => void fromDate.push(m.body.toString()), { offset: since, prefetch: 50 });
    await waitFor(() => fromDate.length >= 100, '100 since the timestamp');
    await sleep(200);
    await c3.stop();
    expect(fromDate).toEqual(Array.from({ length: 100 }, (_, i) => `m${10_000 + i}`));
  });

  it('refuses a stream consumer without a prefetch, before anything is sent', async () => {
    const q = queueName('stream.noprefetch');
    const mq = await client({ queues: [streamQueue(q)] });
    await expect(consume(mq, q, () => {}, { offset: 'first' })).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTIONS',
      message: expect.stringContaining('options.prefetch is required'),
    });
    await expect(consume(mq, q, () => {}, {})).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});

describe('streams: resuming', () => {
  it('after its connection is killed mid-stream, resumes after the last processed offset: no duplicate, no gap', async () => {
    const q = queueName('stream.resume');
    const name = uniqueName('stream-conn');
    const mq = await client(
      { queues: [streamQueue(q)] },
      { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } },
    );
    await publishMany(mq, q, 0, 10_000);
    const seen = new Map<number, number>();
    let processedAtKill = -1;
    const consumer = await consume(
      mq,
      q,
      async (m) => {
        const o = offsetOf(m.headers);
        seen.set(o, (seen.get(o) ?? 0) + 1);
        if (o % 100 === 0) await sleep(1); // keep it reading while the connection is killed
      },
      { arguments: { 'x-stream-offset': 'first' }, prefetch: 100, concurrency: 4 },
    );
    await waitFor(() => seen.size >= 3000, '3000 processed', 20_000);
    processedAtKill = Math.max(...seen.keys());
    let lost = false;
    mq.once('disconnected', () => {
      lost = true;
    });
    await killConnection(name);
    await waitFor(() => lost, 'the loss to be noticed');
    await waitFor(() => seen.size >= 10_000, 'every offset', 30_000);
    await sleep(300);
    await consumer.stop();
    expect(processedAtKill).toBeLessThan(9999);
    const duplicates = [...seen.values()].filter((n) => n > 1).length;
    const gaps = Array.from({ length: 10_000 }, (_, i) => i).filter((i) => !seen.has(i)).length;
    expect({ duplicates, gaps, distinct: seen.size }).toEqual({ duplicates: 0, gaps: 0, distinct: 10_000 });
  });
});

describe('streams: filters', () => {
  it('hands the handler only the filter values asked for (re-checked client-side); matchUnfiltered adds those without one', async () => {
    const q = queueName('stream.filter');
    const mq = await client({ queues: [streamQueue(q)] });
    const region = (i: number) => (i % 3 === 0 ? 'eu' : i % 3 === 1 ? 'us' : undefined);
    await publishMany(mq, q, 0, 300, (i): Record<string, string> => {
      const r = region(i);
      return r === undefined ? {} : { [STREAM_FILTER_VALUE_HEADER]: r };
    });
    const eu: number[] = [];
    const c1 = await consume(mq, q, (m) => void eu.push(Number(m.body.toString().slice(1))), {
      offset: 'first',
      filter: 'eu',
      prefetch: 50,
    });
    const euOrNone: number[] = [];
    const c2 = await consume(mq, q, (m) => void euOrNone.push(Number(m.body.toString().slice(1))), {
      offset: 'first',
      filter: ['eu'],
      matchUnfiltered: true,
      prefetch: 50,
    });
    await waitFor(() => eu.length >= 100 && euOrNone.length >= 200, 'the filtered messages');
    // The last message (299, no filter value) was read by both: nothing more is coming.
    await mq.publishMessage(q, 'm300', { headers: { [STREAM_FILTER_VALUE_HEADER]: 'eu' } });
    await waitFor(() => eu.includes(300) && euOrNone.includes(300), 'the marker');
    await c1.stop();
    await c2.stop();
    const all = Array.from({ length: 301 }, (_, i) => i);
    expect(eu).toEqual(all.filter((i) => i === 300 || region(i) === 'eu'));
    expect(euOrNone).toEqual(all.filter((i) => i === 300 || region(i) !== 'us'));
  });
});

describe('streams: failing handlers', () => {
  it('retries in-process, then dead-letters one copy and moves on; never nacks (which would close the connection)', async () => {
    const q = queueName('stream.fail');
    const mq = await client({ queues: [streamQueue(q)] });
    const disconnected: unknown[] = [];
    mq.on('disconnected', (e) => disconnected.push(e));
    await publishMany(mq, q, 0, 20);
    const calls = new Map<string, number>();
    const handled: string[] = [];
    const consumer = await consume(
      mq,
      q,
      (m) => {
        const body = m.body.toString();
        calls.set(body, (calls.get(body) ?? 0) + 1);
        if (body === 'm5') throw new Error(`m5 fails on attempt ${m.attempt}`);
        if (body === 'm7' && m.attempt === 1) throw new Error('m7 fails once');
        handled.push(body);
      },
      { offset: 'first', prefetch: 10, concurrency: 1, retry: { attempts: 3, delayMs: 20 } },
    );
    const errors: HandlerError[] = [];
    consumer.on('error', (e) => errors.push(e as HandlerError));
    await waitFor(
      () => handled.length >= 19 && errors.some((e) => e.outcome === 'dead-letter'),
      'every message but m5, and m5 dead-lettered',
    );
    await sleep(100);
    await consumer.stop();
    const dead = await drain(deadLetterName(q));
    expect(dead.map((d) => [d.body.toString(), d.properties.headers?.['x-warren-attempts']])).toEqual([['m5', 3]]);
    // No retry queue: its copies would have been appended to the stream.
    await expect(
      adminChannelDo((ch) => ch.queueDeclare({ queue: retryQueueName(q, 20), passive: true })),
    ).rejects.toMatchObject({ replyCode: 404 });
    expect(disconnected).toEqual([]);
    expect(calls.get('m5')).toBe(3);
    expect(calls.get('m7')).toBe(2);
    expect(handled).toHaveLength(19);
    expect(errors.map((e) => `${e.attempt}:${e.outcome}`)).toEqual(['1:retry', '2:retry', '3:dead-letter', '1:retry']);
  });

  it('a manual nack on a stream is an ack to the broker: the connection stays up and the consumer goes on', async () => {
    const q = queueName('stream.nack');
    const mq = await client({ queues: [streamQueue(q)] });
    const disconnected: unknown[] = [];
    mq.on('disconnected', (e) => disconnected.push(e));
    await publishMany(mq, q, 0, 10);
    const seen: string[] = [];
    const consumer = await consume(
      mq,
      q,
      (m) => {
        seen.push(m.body.toString());
        if (seen.length % 2) m.nack({ requeue: true });
        else m.reject();
      },
      { offset: 'first', prefetch: 2, manual: true },
    );
    await waitFor(() => seen.length >= 10, 'all 10');
    await sleep(200);
    await consumer.stop();
    expect(disconnected).toEqual([]);
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });
});
