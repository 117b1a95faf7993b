/**
 * A subscription the broker ends on its own (basic.cancel when the queue is deleted) on both brokers: the
 * consumer reports it (its 'interrupted' event and the client's error reporting) and subscribes again; the
 * per-consumer timeout (`consumerTimeoutMs` → `x-consumer-timeout`) is accepted by both.
 */
import { describe, expect, it } from 'vitest';
import { type ConsumerInterruptedError, consume } from '../../../src/client/consumer.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, adminChannelDo, queueInfo } = consumeFixture();

describe('consumer: a broker-ended subscription', () => {
  it("a basic.cancel (queue deleted) is reported on 'interrupted' and to the client, and the consumer resubscribes", async () => {
    const q = queueName('interrupted.cancel');
    const mq = await client({ queues: [{ name: q, arguments: { 'x-queue-type': 'quorum' } }] });
    const clientErrors: unknown[] = [];
    mq.on('error', (e) => clientErrors.push(e));
    const seen: string[] = [];
    const consumer = await consume(mq, q, (m) => void seen.push(m.body.toString()), { prefetch: 5 });
    const interruptions: ConsumerInterruptedError[] = [];
    consumer.on('interrupted', (e) => interruptions.push(e));
    const tag = consumer.consumerTag;
    await adminChannelDo((ch) => ch.queueDelete({ queue: q }));
    await waitFor(() => consumer.state === 'active' && consumer.consumerTag !== tag, 'the resubscription');
    await mq.publishMessage(q, 'after');
    await waitFor(() => seen.includes('after'), 'a message after the resubscription');
    await consumer.stop();
    expect(interruptions).toHaveLength(1);
    expect(interruptions[0]).toMatchObject({ code: 'ERR_CONSUMER_INTERRUPTED', reason: 'cancelled', consumerTag: tag });
    expect(clientErrors).toEqual(interruptions);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
  });

  it('consumerTimeoutMs is sent as the x-consumer-timeout consumer argument and accepted', async () => {
    const q = queueName('interrupted.ctimeout-arg');
    const mq = await client({ queues: [{ name: q, arguments: { 'x-queue-type': 'quorum' } }] });
    const seen: string[] = [];
    const consumer = await consume(mq, q, (m) => void seen.push(m.body.toString()), {
      consumerTimeoutMs: 60_000,
      prefetch: 2,
    });
    await mq.publishMessage(q, 'one');
    await waitFor(() => seen.length === 1, 'the message');
    await sleep(50);
    await consumer.stop();
    expect(seen).toEqual(['one']);
  });
});
