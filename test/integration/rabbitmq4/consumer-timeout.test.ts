/**
 * RabbitMQ 4.0's consumer timeout: a delivery not acked within the queue's `x-consumer-timeout` makes the
 * broker close the consumer's CHANNEL (406 PRECONDITION_FAILED "delivery acknowledgement ... timed out"),
 * where 4.3 sends basic.cancel. warren reopens the channel, subscribes again and reports it; the message
 * comes back and is processed. The broker checks the timeout on its channel tick (60 s by default); the test
 * makes the tick 200 ms for channels opened from now on (harmless to others: it only checks more often).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConsumerInterruptedError, consume } from '../../../src/client/consumer.js';
import { rabbitmqctl } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from '../client/consume-fixture.js';

const { client, queueName, queueInfo } = consumeFixture();

beforeAll(async () => {
  await rabbitmqctl('eval', 'application:set_env(rabbit, channel_tick_interval, 200).');
});

describe('RabbitMQ 4: x-consumer-timeout', () => {
  it('the channel closed with 406 on a timed-out delivery: reported, reopened, resubscribed, the message processed', async () => {
    const q = queueName('rmq4.ctimeout');
    const mq = await client({
      queues: [{ name: q, arguments: { 'x-queue-type': 'quorum', 'x-consumer-timeout': 1000 } }],
    });
    const clientErrors: unknown[] = [];
    mq.on('error', (e) => clientErrors.push(e));
    const deliveries: string[] = [];
    const consumer = await consume(
      mq,
      q,
      async (m) => {
        deliveries.push(`${m.body.toString()}${m.fields.redelivered ? '*' : ''}`);
        if (deliveries.length === 1) await sleep(1800); // past the 1 s timeout
      },
      { prefetch: 1, concurrency: 2 },
    );
    const interruptions: ConsumerInterruptedError[] = [];
    consumer.on('interrupted', (e) => interruptions.push(e));
    const tag = consumer.consumerTag;
    await mq.publishMessage(q, 'slow');
    await waitFor(() => interruptions.length > 0, 'the timeout', 10_000);
    await waitFor(() => deliveries.includes('slow*'), 'the redelivery');
    await mq.publishMessage(q, 'next');
    await waitFor(() => deliveries.includes('next'), 'the next message');
    await sleep(100);
    await consumer.stop();
    expect(interruptions[0]).toBeInstanceOf(ConsumerInterruptedError);
    expect(interruptions[0]).toMatchObject({ reason: 'consumer-timeout', replyCode: 406 });
    expect(consumer.consumerTag).not.toBe(tag);
    expect(clientErrors[0]).toBe(interruptions[0]);
    expect(deliveries).toEqual(['slow', 'slow*', 'next']);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
  });
});
