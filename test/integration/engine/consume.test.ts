import { describe, expect, it } from 'vitest';
import type { Channel, Delivery } from '../../../src/connection/channel.js';
import { uniqueName } from '../../helpers/broker.js';
import { engineSuite, nextEvent, sleep, waitFor } from './engine-helpers.js';

const suite = engineSuite();

/** A connection, a channel in confirm mode and an exclusive queue holding `messages` (published, confirmed). */
async function queueWith(messages: string[]): Promise<{ ch: Channel; queue: string }> {
  const conn = await suite.open();
  const ch = await conn.createChannel();
  await ch.confirmSelect();
  const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
  await Promise.all(messages.map((m) => ch.basicPublish({ routingKey: queue }, m)));
  return { ch, queue };
}

async function messageCount(ch: Channel, queue: string): Promise<number> {
  return (await ch.queueDeclare({ queue, passive: true })).messageCount;
}

describe('basic.get', () => {
  it('returns null on an empty queue and a message with messageCount otherwise', async () => {
    const { ch, queue } = await queueWith([]);
    expect(await ch.basicGet({ queue })).toBeNull();
    await ch.basicPublish({ routingKey: queue }, 'first', { messageId: '1' });
    await ch.basicPublish({ routingKey: queue }, 'second', { messageId: '2' });
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got).toMatchObject({ redelivered: false, exchange: '', routingKey: queue, messageCount: 1 });
    expect(got!.deliveryTag).toBeGreaterThanOrEqual(1);
    expect(got!.body.toString()).toBe('first');
    expect(got!.properties.messageId).toBe('1');
    const next = await ch.basicGet({ queue, noAck: true });
    expect(next?.messageCount).toBe(0);
    expect(next!.deliveryTag).toBeGreaterThan(got!.deliveryTag);
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('basicGet of a missing queue is a 404 ChannelError on basic.get', async () => {
    const { ch } = await queueWith([]);
    await expect(ch.basicGet({ queue: uniqueName('consume.missing') })).rejects.toMatchObject({
      replyCode: 404,
      methodName: 'basic.get',
    });
  });
});

describe('acknowledgements', () => {
  it('basicNack with requeue redelivers with redelivered=true; without requeue the message is gone', async () => {
    const { ch, queue } = await queueWith(['n']);
    const first = await ch.basicGet({ queue });
    expect(first?.redelivered).toBe(false);
    expect(ch.basicNack(first!.deliveryTag, { requeue: true })).toBe(true);
    const second = await ch.basicGet({ queue });
    expect(second?.body.toString()).toBe('n');
    expect(second?.redelivered).toBe(true);
    ch.basicNack(second!.deliveryTag, { requeue: false });
    expect(await ch.basicGet({ queue })).toBeNull();
    expect(await messageCount(ch, queue)).toBe(0);
  });

  it('basicReject with requeue redelivers with redelivered=true; without requeue the message is gone', async () => {
    const { ch, queue } = await queueWith(['r']);
    const first = await ch.basicGet({ queue });
    expect(ch.basicReject(first!.deliveryTag)).toBe(true); // requeue defaults to true
    const second = await ch.basicGet({ queue });
    expect(second?.redelivered).toBe(true);
    ch.basicReject(second!.deliveryTag, false);
    expect(await ch.basicGet({ queue })).toBeNull();
  });

  it('basicNack multiple requeues every earlier delivery too', async () => {
    const { ch, queue } = await queueWith(['a', 'b', 'c']);
    const got = [await ch.basicGet({ queue }), await ch.basicGet({ queue }), await ch.basicGet({ queue })];
    ch.basicNack(got[2]!.deliveryTag, { multiple: true, requeue: true });
    const again = [await ch.basicGet({ queue }), await ch.basicGet({ queue }), await ch.basicGet({ queue })];
    expect(again.map((m) => m?.body.toString())).toEqual(['a', 'b', 'c']);
    expect(again.every((m) => m?.redelivered)).toBe(true);
    ch.basicAck(again[2]!.deliveryTag, true);
  });

  it('basicAck multiple acknowledges every earlier delivery; a single ack only its own', async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const queue = uniqueName('consume.ack-multiple');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true });
    for (const m of ['1', '2', '3', '4', '5', '6']) await ch.basicPublish({ routingKey: queue }, m);
    const got = [];
    for (let i = 0; i < 6; i++) got.push(await ch.basicGet({ queue }));
    expect(got.map((m) => m?.body.toString())).toEqual(['1', '2', '3', '4', '5', '6']);
    ch.basicAck(got[2]!.deliveryTag, { multiple: true }); // 1, 2, 3
    ch.basicAck(got[5]!.deliveryTag); // 6 only
    // Closing the channel requeues what is still unacknowledged: 4 and 5.
    await ch.close();
    const other = await conn.createChannel();
    expect(await messageCount(other, queue)).toBe(2);
    const back = [await other.basicGet({ queue, noAck: true }), await other.basicGet({ queue, noAck: true })];
    expect(back.map((m) => m?.body.toString())).toEqual(['4', '5']);
    expect(back.every((m) => m?.redelivered === true)).toBe(true);
  });

  it('basicRecover requeues unacknowledged deliveries (redelivered=true)', async () => {
    const { ch, queue } = await queueWith(['x', 'y']);
    const x = await ch.basicGet({ queue });
    const y = await ch.basicGet({ queue });
    expect([x?.redelivered, y?.redelivered]).toEqual([false, false]);
    expect(await ch.basicGet({ queue })).toBeNull();
    await ch.basicRecover({ requeue: true });
    const again = [await ch.basicGet({ queue }), await ch.basicGet({ queue })];
    expect(again.map((m) => m?.body.toString()).sort()).toEqual(['x', 'y']);
    expect(again.every((m) => m?.redelivered === true)).toBe(true);
    ch.basicAck(again[1]!.deliveryTag, true);
    await ch.basicRecover();
    expect(await ch.basicGet({ queue })).toBeNull();
  });
});

describe('consumers', () => {
  it('basicQos limits unacknowledged deliveries per consumer', async () => {
    const { ch, queue } = await queueWith(['1', '2', '3', '4', '5']);
    await ch.basicQos({ prefetchCount: 2 });
    const deliveries: Delivery[] = [];
    await ch.basicConsume({ queue }, (d) => deliveries.push(d));
    await waitFor(() => deliveries.length === 2, 'two deliveries');
    await sleep(200);
    expect(deliveries).toHaveLength(2);
    ch.basicAck(deliveries[0]!.deliveryTag);
    await waitFor(() => deliveries.length === 3, 'a third delivery after one ack');
    await sleep(100);
    expect(deliveries).toHaveLength(3);
    ch.basicAck(deliveries[2]!.deliveryTag, { multiple: true });
    await waitFor(() => deliveries.length === 5, 'all deliveries');
    expect(deliveries.map((d) => d.body.toString())).toEqual(['1', '2', '3', '4', '5']);
    ch.basicAck(deliveries[4]!.deliveryTag, true);
    expect(await messageCount(ch, queue)).toBe(0);
  });

  it('delivers with consumer tag, delivery tag, exchange and routing key; a chosen consumer tag is kept', async () => {
    const { ch, queue } = await queueWith([]);
    const deliveries: Delivery[] = [];
    const tag = uniqueName('consume.tag');
    const { consumerTag } = await ch.basicConsume({ queue, consumerTag: tag, noAck: true }, (d) => deliveries.push(d));
    expect(consumerTag).toBe(tag);
    const generated = await ch.basicConsume({ queue, noAck: true }, (d) => deliveries.push(d));
    expect(generated.consumerTag).toMatch(/^amq\.ctag-/);
    await ch.basicPublish({ routingKey: queue }, 'hi');
    await ch.basicPublish({ routingKey: queue }, 'there');
    await waitFor(() => deliveries.length === 2, 'two deliveries');
    expect(new Set(deliveries.map((d) => d.consumerTag))).toEqual(new Set([tag, generated.consumerTag]));
    expect(deliveries[0]).toMatchObject({ exchange: '', routingKey: queue, redelivered: false });
  });

  it('basicCancel stops deliveries; the message stays in the queue', async () => {
    const { ch, queue } = await queueWith([]);
    const deliveries: Delivery[] = [];
    const { consumerTag } = await ch.basicConsume({ queue, noAck: true }, (d) => deliveries.push(d));
    await ch.basicPublish({ routingKey: queue }, 'before');
    await waitFor(() => deliveries.length === 1, 'a delivery');
    await ch.basicCancel(consumerTag);
    expect((await ch.queueDeclare({ queue, passive: true })).consumerCount).toBe(0);
    await ch.basicPublish({ routingKey: queue }, 'after');
    await sleep(100);
    expect(deliveries.map((d) => d.body.toString())).toEqual(['before']);
    expect((await ch.basicGet({ queue, noAck: true }))?.body.toString()).toBe('after');
  });

  it("emits 'cancel' with the consumer tag when the queue is deleted from another channel", async () => {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    const queue = uniqueName('consume.cancel-notify');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true });
    const { consumerTag } = await ch.basicConsume({ queue }, () => {});
    const cancelled = nextEvent<[string]>(ch, 'cancel');
    const other = await conn.createChannel();
    await other.queueDelete({ queue });
    const [tag] = await cancelled;
    expect(tag).toBe(consumerTag);
    expect(ch.isOpen).toBe(true);
    // The channel carries on, and cancelling the already-cancelled consumer is harmless.
    await ch.basicCancel(consumerTag);
    await expect(ch.queueDeclare({ queue: '', exclusive: true })).resolves.toBeDefined();
    expect(ch.isOpen).toBe(true);
  });

  it("a consumer callback that throws emits 'consumerError'; the channel keeps delivering", async () => {
    const { ch, queue } = await queueWith([]);
    const errors: Array<[unknown, Delivery]> = [];
    ch.on('consumerError', (err, delivery) => errors.push([err, delivery]));
    const handled: string[] = [];
    await ch.basicConsume({ queue }, (d) => {
      const text = d.body.toString();
      if (text === 'boom') throw new Error('consumer failed');
      handled.push(text);
      ch.basicAck(d.deliveryTag);
    });
    await ch.basicPublish({ routingKey: queue }, 'boom');
    await ch.basicPublish({ routingKey: queue }, 'fine');
    await waitFor(() => handled.length === 1 && errors.length === 1, 'one failure and one success');
    expect(handled).toEqual(['fine']);
    const [err, delivery] = errors[0]!;
    expect((err as Error).message).toBe('consumer failed');
    expect(delivery.body.toString()).toBe('boom');
    expect(ch.isOpen).toBe(true);
    // The failed delivery is still unacknowledged (not lost): settling it now empties the queue.
    ch.basicReject(delivery.deliveryTag, { requeue: false });
    await expect(ch.queueDeclare({ queue, passive: true })).resolves.toMatchObject({ messageCount: 0 });
  });
});
