/**
 * RabbitMQ 4 gives every quorum queue a delivery limit of 20: a consumer of a quorum queue that sets none
 * dead-letters a message through warren's target at x-delivery-count 19 instead of letting the broker drop
 * it at the 21st requeue.
 */
import { describe, expect, it } from 'vitest';
import { DeliveryLimitError, deadLetterName } from '../../../src/client/consumer.js';
import { consumeFixture } from '../client/consume-fixture.js';
import { requeueForever, stopAfterReport } from '../client/requeue-forever.js';

const { client, queueName, queueInfo, drain } = consumeFixture();

describe('RabbitMQ 4: the default quorum delivery limit', () => {
  it('a quorum queue without x-delivery-limit: an always-requeued message is dead-lettered once, after 19 handler calls', async () => {
    const q = queueName('rmq4.dlimit.default');
    const mq = await client({ queues: [{ name: q, arguments: { 'x-queue-type': 'quorum' } }] });
    const { consumer, seen } = await requeueForever(mq, q);
    await mq.publishMessage(q, 'poison');
    await stopAfterReport(consumer, seen);
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]).toMatchObject({ code: 'ERR_DELIVERY_LIMIT', deliveryCount: 19, deliveryLimit: 20 });
    expect(seen.errors[0]).toBeInstanceOf(DeliveryLimitError);
    expect(seen.calls).toBe(19);
    expect((await drain(deadLetterName(q))).map((d) => d.body.toString())).toEqual(['poison']);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
  });

  it('a queue not in the topology whose deliveries carry x-delivery-count is taken as a quorum queue with the default 20', async () => {
    const q = queueName('rmq4.dlimit.unknown');
    const mq = await client();
    const admin = await client({ queues: [{ name: q, arguments: { 'x-queue-type': 'quorum' } }] });
    await admin.disconnect();
    const { consumer, seen } = await requeueForever(mq, q);
    await mq.publishMessage(q, 'poison');
    await stopAfterReport(consumer, seen);
    expect(seen.calls).toBe(19);
    expect((await drain(deadLetterName(q))).map((d) => d.body.toString())).toEqual(['poison']);
  });
});
