/**
 * consume() against the real broker: outcome policy (ack, retry queues, dead-letter target, decoding
 * failures, discard), handler timeouts, manual mode and graceful stop.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import {
  type ConsumeMessage,
  consume,
  deadLetterName,
  HandlerError,
  MessageDecodeError,
  NotManualModeError,
  retryQueueName,
} from '../../../src/client/consumer.js';
import { uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, deleteAfter, queueInfo: messageCount, drain } = consumeFixture();

// ---------------------------------------------------------------------------------------------------------

describe('consume: acks', () => {
  it('acks every message whose handler resolves, one at a time by default (prefetch 1)', async () => {
    const q = queueName('consume.ack');
    const mq = await client({ queues: [{ name: q }] });
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const consumer = await consume(mq, q, async (msg) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(1);
      seen.push(msg.body.toString());
      running--;
    });
    expect(consumer.state).toBe('active');
    expect(consumer.consumerTag).toMatch(/^amq\.ctag-/);
    await Promise.all(Array.from({ length: 20 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => seen.length === 20, '20 messages');
    await consumer.stop();
    expect(consumer.state).toBe('stopped');
    expect(maxRunning).toBe(1);
    expect(seen).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect(await messageCount(q)).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
    // The default dead-letter target was declared: exchange and queue <queue>.dead.
    expect((await messageCount(deadLetterName(q))).messageCount).toBe(0);
  });

  it('runs up to `concurrency` handlers at once and exposes the message fields', async () => {
    const q = queueName('consume.concurrency');
    const mq = await client({ queues: [{ name: q }] });
    let running = 0;
    let maxRunning = 0;
    let done = 0;
    let first: ConsumeMessage | undefined;
    const consumer = await consume(
      mq,
      q,
      async (msg) => {
        first ??= msg;
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(20);
        running--;
        done++;
      },
      { prefetch: 10, concurrency: 4 },
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) => mq.publishMessage(q, { i }, { headers: { 'x-n': i } })));
    await waitFor(() => done === 20, '20 handled');
    await consumer.stop();
    expect(maxRunning).toBe(4);
    expect(first).toBeDefined();
    const m = first!;
    expect(m.queue).toBe(q);
    expect(m.attempt).toBe(1);
    expect(m.fields).toMatchObject({ redelivered: false, exchange: '', routingKey: q });
    expect(m.fields.deliveryTag).toBeGreaterThan(0);
    expect(m.properties.contentType).toBe('application/json');
    expect(m.headers['x-n']).toBe(0);
    // Without json/schema, value is the body.
    expect(m.value).toBe(m.body);
    expect(() => m.ack()).toThrow(NotManualModeError);
  });
});

describe('consume: retry and dead-letter', () => {
  it('tries each failing message exactly `attempts` times, at least `delayMs` apart, then dead-letters it with the warren headers', async () => {
    const delayMs = 150;
    const attempts = 3;
    const exchange = uniqueName('consume.ex');
    deleteAfter({ exchanges: [exchange] });
    const q = queueName('consume.retry', [delayMs]);
    const mq = await client({
      exchanges: [{ name: exchange, type: 'direct', durable: false }],
      queues: [{ name: q, exchange, routingKey: 'order.created' }],
    });
    const calls = new Map<number, Array<{ t: number; attempt: number; exchange: string; routingKey: string }>>();
    const consumer = await consume<{ id: number }>(
      mq,
      q,
      async (msg) => {
        const id = msg.value.id;
        const list = calls.get(id) ?? [];
        calls.set(id, list);
        list.push({
          t: performance.now(),
          attempt: msg.attempt,
          exchange: msg.fields.exchange,
          routingKey: msg.fields.routingKey,
        });
        if (id % 10 === 0) throw new Error(`boom ${id}`);
      },
      { json: true, prefetch: 20, retry: { attempts, delayMs } },
    );
    const errors: unknown[] = [];
    consumer.on('error', (err) => errors.push(err));
    const ids = Array.from({ length: 100 }, (_, i) => i);
    await Promise.all(
      ids.map((id) => mq.publishMessage('order.created', { id }, { exchange, headers: { 'x-test': 'kept' } })),
    );
    await waitFor(async () => (await messageCount(deadLetterName(q))).messageCount === 10, '10 dead letters');
    await waitFor(() => [...calls.values()].reduce((n, l) => n + l.length, 0) === 90 + 10 * attempts, 'all calls');
    await consumer.stop();

    const failing = ids.filter((id) => id % 10 === 0);
    for (const id of ids) {
      const list = calls.get(id)!;
      if (!failing.includes(id)) {
        expect(
          list.map((c) => c.attempt),
          `id ${id}`,
        ).toEqual([1]);
        continue;
      }
      expect(
        list.map((c) => c.attempt),
        `id ${id}`,
      ).toEqual([1, 2, 3]);
      for (let i = 1; i < list.length; i++) {
        expect(list[i]!.t - list[i - 1]!.t, `id ${id} gap ${i}`).toBeGreaterThanOrEqual(delayMs);
      }
      // The original exchange and routing key are restored after the hop through the retry queue.
      for (const c of list) expect(c).toMatchObject({ exchange, routingKey: 'order.created' });
    }
    const dead = await drain(deadLetterName(q));
    expect(dead).toHaveLength(10);
    expect(dead.map((m) => (JSON.parse(m.body.toString()) as { id: number }).id).sort((a, b) => a - b)).toEqual(
      failing,
    );
    for (const m of dead) {
      const id = (JSON.parse(m.body.toString()) as { id: number }).id;
      const h = m.properties.headers!;
      expect(h['x-warren-error']).toBe(`boom ${id}`);
      expect(h['x-warren-attempts']).toBe(attempts);
      expect(h['x-warren-original-exchange']).toBe(exchange);
      expect(h['x-warren-original-routing-key']).toBe('order.created');
      expect(h['x-warren-queue']).toBe(q);
      expect(h['x-test']).toBe('kept');
      expect(h['x-warren-attempt']).toBeUndefined();
      expect(h['x-death']).toBeUndefined();
      expect(m.properties.contentType).toBe('application/json');
      expect(m.properties.messageId).toMatch(/^[0-9a-f-]{36}$/);
    }
    const handlerErrors = errors.filter((e): e is HandlerError => e instanceof HandlerError);
    expect(handlerErrors).toHaveLength(errors.length);
    expect(handlerErrors.filter((e) => e.outcome === 'retry')).toHaveLength(20);
    expect(handlerErrors.filter((e) => e.outcome === 'dead-letter')).toHaveLength(10);
    expect(await messageCount(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
    expect((await messageCount(retryQueueName(q, delayMs))).messageCount).toBe(0);
  });

  it('uses one retry queue per distinct delay of a delay function', async () => {
    const q = queueName('consume.retryfn', [100, 200]);
    const mq = await client({ queues: [{ name: q }] });
    const times: number[] = [];
    const consumer = await consume(
      mq,
      q,
      () => {
        times.push(performance.now());
        throw new Error('always');
      },
      { retry: { attempts: 3, delayMs: (n) => n * 100 } },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'x');
    await waitFor(async () => (await messageCount(deadLetterName(q))).messageCount === 1, 'the dead letter');
    await consumer.stop();
    expect(times).toHaveLength(3);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(100);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(200);
    expect((await messageCount(retryQueueName(q, 100))).messageCount).toBe(0);
    expect((await messageCount(retryQueueName(q, 200))).messageCount).toBe(0);
    const [dead] = await drain(deadLetterName(q));
    expect(dead?.properties.headers?.['x-warren-attempts']).toBe(3);
    expect(dead?.body.toString()).toBe('x');
  });

  it('dead-letters invalid JSON and schema failures on the first delivery without calling the handler', async () => {
    const q = queueName('consume.decode');
    const mq = await client({ queues: [{ name: q }] });
    const handled: unknown[] = [];
    // zod-compatible, duck-typed: safeParse returning { success, data | error }.
    const schema = {
      safeParse(v: unknown): { success: boolean; data?: { n: number }; error?: unknown } {
        const n = (v as { n?: unknown } | null)?.n;
        return typeof n === 'number'
          ? { success: true, data: { n: n * 10 } }
          : { success: false, error: new Error('n must be a number') };
      },
    };
    const consumer = await consume(mq, q, (msg) => void handled.push(msg.value), {
      schema,
      prefetch: 5,
      retry: { attempts: 3, delayMs: 50 },
    });
    deleteAfter({ queues: [retryQueueName(q, 50)] });
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    await mq.publishMessage(q, Buffer.from('{not json'), { contentType: 'application/json' });
    await mq.publishMessage(q, { n: 'seven' });
    await mq.publishMessage(q, { n: 7 });
    await waitFor(async () => (await messageCount(deadLetterName(q))).messageCount === 2, '2 dead letters');
    await waitFor(() => handled.length === 1, 'the valid message');
    await consumer.stop();
    expect(handled).toEqual([{ n: 70 }]);
    expect(errors).toHaveLength(2);
    for (const e of errors) expect(e).toBeInstanceOf(MessageDecodeError);
    const dead = await drain(deadLetterName(q));
    const texts = dead.map((m) => String(m.properties.headers?.['x-warren-error']));
    expect(texts.some((t) => t.startsWith('invalid JSON payload'))).toBe(true);
    expect(texts.some((t) => t.includes('n must be a number'))).toBe(true);
    for (const m of dead) expect(m.properties.headers?.['x-warren-attempts']).toBe(1);

    // A parse()-only schema that throws works the same way.
    const consumer2 = await consume(mq, q, (msg) => void handled.push(msg.value), {
      schema: {
        parse(v: unknown): string {
          if (typeof v !== 'string') throw new Error('expected a string');
          return v;
        },
      },
    });
    consumer2.on('error', () => {});
    await mq.publishMessage(q, { not: 'a string' });
    await waitFor(async () => (await messageCount(deadLetterName(q))).messageCount === 1, 'the parse() dead letter');
    await consumer2.stop();
    expect(handled).toHaveLength(1);
  });

  it('with deadLetter: false nacks without requeue, so the queue’s own x-dead-letter-exchange applies', async () => {
    const q = queueName('consume.discard');
    const dlq = uniqueName('consume.dlq');
    deleteAfter({ queues: [dlq] });
    const mq = await client({
      queues: [
        { name: dlq },
        { name: q, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } },
      ],
    });
    let calls = 0;
    const consumer = await consume(
      mq,
      q,
      () => {
        calls++;
        throw new Error('nope');
      },
      { deadLetter: false },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'poison');
    await waitFor(async () => (await messageCount(dlq)).messageCount === 1, 'the broker dead letter');
    await consumer.stop();
    expect(calls).toBe(1);
    const [m] = await drain(dlq);
    expect(m?.body.toString()).toBe('poison');
    const death = (m?.properties.headers?.['x-death'] as Array<Record<string, unknown>> | undefined)?.[0];
    expect(death?.reason).toBe('rejected');
  });

  it('publishes to a custom dead-letter target with the original routing key', async () => {
    const q = queueName('consume.customdl');
    const target = uniqueName('consume.target');
    deleteAfter({ queues: [target], exchanges: [`${target}.ex`] });
    const mq = await client({
      exchanges: [{ name: `${target}.ex`, type: 'topic', durable: false }],
      queues: [{ name: q }, { name: target, exchange: `${target}.ex`, routingKey: '#' }],
    });
    const consumer = await consume(
      mq,
      q,
      () => {
        throw new Error('to the target');
      },
      { deadLetter: { exchange: `${target}.ex` } },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'payload');
    await waitFor(async () => (await messageCount(target)).messageCount === 1, 'the dead letter');
    await consumer.stop();
    const [m] = await drain(target);
    expect(m?.routingKey).toBe(q);
    expect(m?.properties.headers?.['x-warren-error']).toBe('to the target');
  });

  it('counts a handler that does not settle within handlerTimeoutMs as failed', async () => {
    const q = queueName('consume.timeout');
    const mq = await client({ queues: [{ name: q }] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const consumer = await consume(mq, q, () => gate, { handlerTimeoutMs: 100 });
    const errors: HandlerError[] = [];
    consumer.on('error', (e) => errors.push(e as HandlerError));
    await mq.publishMessage(q, 'slow');
    await waitFor(async () => (await messageCount(deadLetterName(q))).messageCount === 1, 'the dead letter');
    release();
    await consumer.stop();
    expect(errors).toHaveLength(1);
    expect(errors[0]?.code).toBe('ERR_HANDLER_FAILED');
    expect((errors[0]?.cause as { code?: string } | undefined)?.code).toBe('ERR_HANDLER_TIMEOUT');
    const [m] = await drain(deadLetterName(q));
    expect(m?.properties.headers?.['x-warren-error']).toBe('the handler did not settle within 100 ms');
  });

  it('reports handler errors to the client when the consumer has no error listener', async () => {
    const q = queueName('consume.report');
    const mq = await client({ queues: [{ name: q }] });
    const clientErrors: unknown[] = [];
    mq.on('error', (e) => clientErrors.push(e));
    const consumer = await consume(mq, q, () => {
      throw new Error('reported');
    });
    await mq.publishMessage(q, 'x');
    await waitFor(() => clientErrors.length === 1, 'the client error event');
    await consumer.stop();
    expect(clientErrors[0]).toBeInstanceOf(HandlerError);
    expect((clientErrors[0] as HandlerError).outcome).toBe('dead-letter');
  });
});

describe('consume: manual mode', () => {
  it('leaves settling to the handler: ack, nack with and without requeue, reject', async () => {
    const q = queueName('consume.manual');
    const dlq = uniqueName('consume.manual.dlq');
    deleteAfter({ queues: [dlq] });
    const mq = await client({
      queues: [
        { name: dlq },
        { name: q, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } },
      ],
    });
    const seen: string[] = [];
    const results: boolean[] = [];
    const consumer = await consume(
      mq,
      q,
      (msg) => {
        const body = msg.body.toString();
        seen.push(`${body}${msg.fields.redelivered ? '*' : ''}`);
        if (body === 'ack') results.push(msg.ack(), msg.ack());
        else if (body === 'nack-drop') msg.nack({ requeue: false });
        else if (body === 'reject') msg.reject();
        else if (body === 'nack-requeue') {
          if (msg.fields.redelivered) msg.ack();
          else msg.nack();
        }
      },
      { manual: true, prefetch: 1 },
    );
    for (const body of ['ack', 'nack-drop', 'reject', 'nack-requeue']) await mq.publishMessage(q, body);
    await waitFor(() => seen.length === 5, '5 deliveries');
    await waitFor(async () => (await messageCount(dlq)).messageCount === 2, '2 broker dead letters');
    await consumer.stop();
    expect(seen).toEqual(['ack', 'nack-drop', 'reject', 'nack-requeue', 'nack-requeue*']);
    // A second ack of the same message sends nothing.
    expect(results).toEqual([true, false]);
    expect((await drain(dlq)).map((m) => m.body.toString()).sort()).toEqual(['nack-drop', 'reject']);
    expect((await messageCount(q)).messageCount).toBe(0);
  });

  it('applies the retry policy when a manual handler throws before settling', async () => {
    const q = queueName('consume.manualfail', [20]);
    const mq = await client({ queues: [{ name: q }] });
    const attempts: number[] = [];
    const consumer = await consume(
      mq,
      q,
      (msg) => {
        attempts.push(msg.attempt);
        if (msg.attempt < 2) throw new Error('first time');
        msg.ack();
      },
      { manual: true, retry: { attempts: 2, delayMs: 20 } },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'm');
    await waitFor(() => attempts.length === 2, 'the retry');
    await consumer.stop();
    expect(attempts).toEqual([1, 2]);
    expect((await messageCount(q)).messageCount).toBe(0);
    expect((await messageCount(deadLetterName(q))).messageCount).toBe(0);
  });
});

describe('consume: stop', () => {
  it('stop() with 50 handlers in flight: all finish and are acked, none starts after, nothing is left unacked', async () => {
    const q = queueName('consume.stop');
    const mq = await client({ queues: [{ name: q }] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    let finished = 0;
    let stopCalled = false;
    let startedAfterStop = 0;
    const consumer = await consume(
      mq,
      q,
      async () => {
        started++;
        if (stopCalled) startedAfterStop++;
        await gate;
        await sleep(Math.random() * 5);
        finished++;
      },
      { prefetch: 50 },
    );
    await Promise.all(Array.from({ length: 120 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => started === 50, '50 handlers in flight');
    expect(consumer.inFlight).toBe(50);
    stopCalled = true;
    const stopping = consumer.stop({ timeoutMs: 10_000 });
    await sleep(100);
    expect(consumer.state).toBe('stopping');
    // The subscription is cancelled already while the handlers still run.
    expect((await messageCount(q)).consumerCount).toBe(0);
    release();
    await stopping;
    expect(consumer.state).toBe('stopped');
    expect(finished).toBe(50);
    expect(startedAfterStop).toBe(0);
    expect(consumer.inFlight).toBe(0);
    // Exactly the 50 handled messages were acked: the other 70 are ready, none is unacked (the channel is
    // closed, so anything unacked would have been requeued and counted here).
    expect(await messageCount(q)).toMatchObject({ messageCount: 70, consumerCount: 0 });
  });

  it('stop() gives up after timeoutMs and the broker redelivers what was not settled', async () => {
    const q = queueName('consume.stoptimeout');
    const mq = await client({ queues: [{ name: q }] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started = 0;
    const consumer = await consume(
      mq,
      q,
      async () => {
        started++;
        await gate;
      },
      { prefetch: 3 },
    );
    await Promise.all(Array.from({ length: 3 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => started === 3, '3 handlers in flight');
    const t0 = Date.now();
    await consumer.stop({ timeoutMs: 200 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    release();
    await sleep(20);
    expect((await messageCount(q)).messageCount).toBe(3);
  });

  it('disconnect() of the client stops its consumers gracefully (SessionParticipant.stop)', async () => {
    const q = queueName('consume.disconnect');
    const mq = await client({ queues: [{ name: q }] });
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let finished = 0;
    const consumer = await consume(
      mq,
      q,
      async () => {
        await gate;
        finished++;
      },
      { prefetch: 5 },
    );
    await Promise.all(Array.from({ length: 5 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => consumer.inFlight === 5, '5 in flight');
    setTimeout(release, 50);
    await mq.disconnect();
    expect(finished).toBe(5);
    expect(consumer.state).toBe('stopped');
    expect((await messageCount(q)).messageCount).toBe(0);
  });
});
