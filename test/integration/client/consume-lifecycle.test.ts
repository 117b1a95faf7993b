/**
 * consume() lifecycle against the real broker: reconnects (stale delivery tags), server-sent cancels,
 * quorum queues, single active consumer, exclusive consumers, subscribing before connect().
 */
import { describe, expect, it } from 'vitest';
import { ConsumerCancelledError, consume, deadLetterName } from '../../../src/client/consumer.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, deleteAfter, adminChannelDo, queueInfo, drain } = consumeFixture();

/** Closes only the broker connection named `name` (never anyone else's). */
async function killConnection(name: string): Promise<void> {
  const out = await rabbitmqctl('list_connections', '--quiet', '--no-table-headers', 'pid', 'client_properties');
  const line = out.split('\n').find((l) => l.includes(`{"connection_name","${name}"}`));
  const pid = line?.split('\t')[0]?.trim();
  if (!pid) throw new Error(`connection ${name} not found`);
  await rabbitmqctl('close_connection', pid, 'warren test: killing this connection');
}

describe('consume: reconnect', () => {
  it('resubscribes after the connection is lost; deliveries of the dead channel are never acked on the new one', async () => {
    const q = queueName('consume.reconnect');
    const name = uniqueName('conn');
    const mq = await client(
      { queues: [{ name: q }] },
      { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } },
    );
    const clientErrors: unknown[] = [];
    mq.on('error', (e) => clientErrors.push(e));
    let release: () => void = () => {};
    let gate = new Promise<void>((r) => {
      release = r;
    });
    const handled: string[] = [];
    const consumer = await consume(
      mq,
      q,
      async (msg) => {
        await gate;
        handled.push(`${msg.body.toString()}${msg.fields.redelivered ? '*' : ''}`);
      },
      { prefetch: 5 },
    );
    const consumerErrors: unknown[] = [];
    consumer.on('error', (e) => consumerErrors.push(e));
    await Promise.all(Array.from({ length: 10 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => consumer.inFlight === 5, '5 in flight');
    const firstTag = consumer.consumerTag;
    let lost = false;
    mq.once('disconnected', () => {
      lost = true;
    });
    await killConnection(name);
    await waitFor(() => lost, 'the loss to be noticed');
    // The 5 stuck handlers finish after the loss: their acks belong to the dead channel and are dropped.
    release();
    await waitFor(() => mq.isReady && consumer.state === 'active', 'the reconnect');
    expect(consumer.consumerTag).not.toBe(firstTag);
    gate = Promise.resolve();
    await waitFor(() => handled.length >= 15, 'every message, the 5 lost acks redelivered');
    await mq.publishMessage(q, 'after');
    await waitFor(() => handled.includes('after'), 'a message published after the reconnect');
    await sleep(50);
    await consumer.stop();
    // A stale tag acked on the new channel would have closed it with 406 PRECONDITION_FAILED.
    expect(consumerErrors).toEqual([]);
    expect(clientErrors).toEqual([]);
    expect(handled.filter((h) => h.endsWith('*'))).toHaveLength(5);
    expect(new Set(handled.map((h) => h.replace('*', ''))).size).toBe(11);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
  });

  it('subscribes a consumer registered before connect() once connected', async () => {
    const q = queueName('consume.early');
    const mq = await client({ queues: [{ name: q }] }, {}, false);
    const seen: string[] = [];
    const consumer = await consume(mq, q, (msg) => void seen.push(msg.body.toString()));
    expect(consumer.state).toBe('starting');
    await mq.connect();
    expect(consumer.state).toBe('active');
    await mq.publishMessage(q, 'hello');
    await waitFor(() => seen.length === 1, 'the message');
    await consumer.stop();
  });
});

describe('consume: server-sent cancel', () => {
  it('re-declares a deleted queue from the topology (with its binding) and resubscribes', async () => {
    const exchange = uniqueName('consume.cancel.ex');
    deleteAfter({ exchanges: [exchange] });
    const q = queueName('consume.cancel');
    const mq = await client({
      exchanges: [{ name: exchange, type: 'direct', durable: false }],
      queues: [{ name: q, exchange, routingKey: 'rk' }],
    });
    const seen: string[] = [];
    const consumer = await consume(mq, q, (msg) => void seen.push(msg.body.toString()));
    await mq.publishMessage('rk', 'before', { exchange });
    await waitFor(() => seen.length === 1, 'the first message');
    const tag = consumer.consumerTag;
    await adminChannelDo((ch) => ch.queueDelete({ queue: q }));
    await waitFor(
      () => consumer.state === 'active' && consumer.consumerTag !== undefined && consumer.consumerTag !== tag,
      'the resubscription',
    );
    expect(await queueInfo(q)).toMatchObject({ consumerCount: 1 });
    await mq.publishMessage('rk', 'after', { exchange });
    await waitFor(() => seen.length === 2, 'the message published after');
    await consumer.stop();
    expect(seen).toEqual(['before', 'after']);
  });

  it('reports ConsumerCancelledError and stops when the deleted queue is not in the topology', async () => {
    const q = queueName('consume.cancel.unknown');
    const mq = await client();
    await adminChannelDo((ch) => ch.queueDeclare({ queue: q, durable: true }));
    const consumer = await consume(mq, q, () => {});
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    await adminChannelDo((ch) => ch.queueDelete({ queue: q }));
    await waitFor(() => consumer.state === 'stopped', 'the consumer to stop');
    // First the interruption (the broker's basic.cancel), then the failed resubscription.
    expect(errors.map((e) => (e as ConsumerCancelledError).code)).toEqual([
      'ERR_CONSUMER_INTERRUPTED',
      'ERR_CONSUMER_CANCELLED',
    ]);
    expect(errors[1]).toBeInstanceOf(ConsumerCancelledError);
  });
});

describe('consume: queue types and consumer modes', () => {
  it('consumes a quorum queue (x-delivery-limit) with retry and dead-letter', async () => {
    const q = queueName('consume.quorum', [30]);
    const mq = await client({
      queues: [{ name: q, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } }],
    });
    const attempts = new Map<string, number[]>();
    const consumer = await consume(
      mq,
      q,
      (msg) => {
        const body = msg.body.toString();
        attempts.set(body, [...(attempts.get(body) ?? []), msg.attempt]);
        if (body === 'bad') throw new Error('bad message');
      },
      { prefetch: 10, retry: { attempts: 2, delayMs: 30 } },
    );
    consumer.on('error', () => {});
    await Promise.all(['a', 'b', 'bad', 'c'].map((b) => mq.publishMessage(q, b)));
    await waitFor(async () => (await queueInfo(deadLetterName(q))).messageCount === 1, 'the dead letter');
    await waitFor(() => attempts.size === 4, 'all messages');
    await consumer.stop();
    expect(Object.fromEntries(attempts)).toEqual({ a: [1], b: [1], c: [1], bad: [1, 2] });
    expect((await queueInfo(q)).messageCount).toBe(0);
    const [dead] = await drain(deadLetterName(q));
    expect(dead?.body.toString()).toBe('bad');
  });

  it('single active consumer: of two consumers only one receives; the other takes over when it stops', async () => {
    const q = queueName('consume.sac');
    const mq = await client({ queues: [{ name: q, arguments: { 'x-single-active-consumer': true } }] });
    const a: string[] = [];
    const b: string[] = [];
    const ca = await consume(mq, q, (msg) => void a.push(msg.body.toString()), { prefetch: 5 });
    const cb = await consume(mq, q, (msg) => void b.push(msg.body.toString()), { prefetch: 5 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => a.length + b.length === 20, '20 messages');
    await sleep(50);
    expect(a).toHaveLength(20);
    expect(b).toHaveLength(0);
    await ca.stop();
    await Promise.all(Array.from({ length: 5 }, (_, i) => mq.publishMessage(q, `n${i}`)));
    await waitFor(() => b.length === 5, 'the second consumer to take over');
    await cb.stop();
    expect(a).toHaveLength(20);
  });

  it('single active consumer on a quorum queue', async () => {
    const q = queueName('consume.sacq');
    const mq = await client({
      queues: [{ name: q, arguments: { 'x-queue-type': 'quorum', 'x-single-active-consumer': true } }],
    });
    const got = [0, 0];
    const c0 = await consume(mq, q, () => void got[0]!++, { prefetch: 10 });
    const c1 = await consume(mq, q, () => void got[1]!++, { prefetch: 10 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => got[0]! + got[1]! === 20, '20 messages');
    await sleep(50);
    expect(got).toEqual([20, 0]);
    await c1.stop();
    await c0.stop();
  });

  it('an exclusive consumer makes a second consume() reject (403), which leaves nothing registered', async () => {
    const q = queueName('consume.exclusive');
    const mq = await client({ queues: [{ name: q }] });
    const first = await consume(mq, q, () => {}, { exclusive: true });
    const err = await consume(mq, q, () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(403);
    expect(await queueInfo(q)).toMatchObject({ consumerCount: 1 });
    await first.stop();
  });

  it('consume() of a queue that does not exist rejects with 404', async () => {
    const q = queueName('consume.missing');
    const mq = await client();
    const err = await consume(mq, q, () => {}, { deadLetter: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChannelError);
    expect((err as ChannelError).replyCode).toBe(404);
  });

  it('gives a consumer priority (x-priority): the higher one gets the messages while it has room', async () => {
    const q = queueName('consume.priority');
    const mq = await client({ queues: [{ name: q }] });
    const got = { low: 0, high: 0 };
    const low = await consume(mq, q, () => void got.low++, { prefetch: 100, priority: 0 });
    const high = await consume(mq, q, () => void got.high++, { prefetch: 100, priority: 10 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => mq.publishMessage(q, `m${i}`)));
    await waitFor(() => got.low + got.high === 20, '20 messages');
    await low.stop();
    await high.stop();
    expect(got).toEqual({ low: 0, high: 20 });
  });

  it('passes basic.consume arguments: a stream offset', async () => {
    const q = queueName('consume.stream');
    const mq = await client({ queues: [{ name: q, arguments: { 'x-queue-type': 'stream' } }] });
    await Promise.all(Array.from({ length: 3 }, (_, i) => mq.publishMessage(q, `s${i}`)));
    const seen: string[] = [];
    const consumer = await consume(mq, q, (msg) => void seen.push(msg.body.toString()), {
      prefetch: 10,
      arguments: { 'x-stream-offset': 'first' },
      deadLetter: false,
    });
    await waitFor(() => seen.length === 3, 'the stream from the first offset');
    await consumer.stop();
    expect(seen).toEqual(['s0', 's1', 's2']);
  });
});
