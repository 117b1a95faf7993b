/**
 * A quorum queue's delivery limit (both brokers drop a message requeued past `x-delivery-limit` when the
 * queue has no dead-letter exchange): warren reads `x-delivery-count` and dead-letters the message through
 * its own target before the broker would drop it, whatever requeued it (a nack, a killed connection).
 */
import { describe, expect, it } from 'vitest';
import { consume, DeliveryLimitError, deadLetterName } from '../../../src/client/consumer.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { connectionPid } from '../engine/engine-helpers.js';
import { consumeFixture } from './consume-fixture.js';
import { requeueForever, stopAfterReport } from './requeue-forever.js';

const { client, queueName, queueInfo, drain } = consumeFixture();

const limited = (name: string, limit: number) => ({
  name,
  arguments: { 'x-queue-type': 'quorum' as const, 'x-delivery-limit': limit },
});

describe('quorum delivery limit', () => {
  it('a handler that always nacks with requeue: the message ends in the dead-letter queue exactly once, not dropped', async () => {
    const q = queueName('dlimit.nack');
    const mq = await client({ queues: [limited(q, 3)] });
    const { consumer, seen } = await requeueForever(mq, q);
    await mq.publishMessage(q, 'poison', { messageId: 'poison-1' });
    await stopAfterReport(consumer, seen);
    const dead = await drain(deadLetterName(q));
    expect(dead.map((d) => d.body.toString())).toEqual(['poison']);
    expect(dead[0]?.properties.messageId).toBe('poison-1');
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
    // Delivered with x-delivery-count 0 and 1 to the handler; at 2 (limit 3 − 1) dead-lettered instead.
    expect(seen.calls).toBe(2);
    expect(seen.errors).toHaveLength(1);
    expect(seen.errors[0]).toBeInstanceOf(DeliveryLimitError);
    expect(seen.errors[0]).toMatchObject({ code: 'ERR_DELIVERY_LIMIT', deliveryCount: 2, deliveryLimit: 3 });
  });

  it('a consumer whose connection keeps being killed while it holds the message: dead-lettered exactly once', async () => {
    const q = queueName('dlimit.kill');
    const name = uniqueName('dlimit-conn');
    const mq = await client(
      { queues: [limited(q, 3)] },
      { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } },
    );
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let calls = 0;
    const consumer = await consume(
      mq,
      q,
      async () => {
        calls++;
        await gate;
      },
      // The handlers of dead connections keep running: give the redeliveries slots of their own.
      { prefetch: 1, concurrency: 3 },
    );
    const errors: unknown[] = [];
    consumer.on('error', (e) => errors.push(e));
    await mq.publishMessage(q, 'crashes-the-worker');
    for (let kill = 1; kill <= 2; kill++) {
      await waitFor(() => calls === kill && consumer.state === 'active', `delivery ${kill}`);
      const pid = await connectionPid(name);
      if (pid === undefined) throw new Error(`connection ${name} not found`);
      await rabbitmqctl('close_connection', pid, 'warren test: killing this connection');
      await waitFor(() => !mq.isReady, 'the loss');
    }
    await waitFor(() => errors.some((e) => e instanceof DeliveryLimitError), 'the delivery-limit report');
    release();
    await sleep(200);
    await consumer.stop();
    expect(calls).toBe(2);
    const dead = await drain(deadLetterName(q));
    expect(dead.map((d) => d.body.toString())).toEqual(['crashes-the-worker']);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
  });

  it('deliveryLimit: false leaves x-delivery-count alone (the broker then drops the message: what warren prevents by default)', async () => {
    const q = queueName('dlimit.off');
    const mq = await client({ queues: [limited(q, 1)] });
    const { consumer, seen } = await requeueForever(mq, q, { deliveryLimit: false });
    await mq.publishMessage(q, 'dropped');
    await waitFor(() => seen.calls >= 2, 'two deliveries');
    await sleep(300);
    await consumer.stop();
    expect(seen.calls).toBe(2);
    expect(await drain(deadLetterName(q))).toEqual([]);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0 });
  });
});
