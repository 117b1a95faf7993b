/**
 * What RabbitMQ 4 does differently from 3.10, pinned down on the RabbitMQ 4 test broker: the negotiated
 * frame_max, and the delivery limit of 20 that 4.0 gives every quorum queue (the broker drops a message
 * requeued that often when it has nowhere to dead-letter it), which bounds any retry-by-requeue.
 */
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../../src/connection/channel.js';
import type { FieldTable } from '../../../src/protocol/field-table.js';
import { brokerMajor, uniqueName } from '../../helpers/broker.js';
import { brokerOptions, engineSuite } from '../engine/engine-helpers.js';

const suite = engineSuite();

describe('RabbitMQ 4: the broker under test', () => {
  it('announces a 4.x version', async () => {
    const conn = await suite.open();
    expect(brokerMajor(conn.serverProperties)).toBeGreaterThanOrEqual(4);
  });
});

describe('RabbitMQ 4: frame_max', () => {
  it('negotiates the default 131072', async () => {
    const conn = await suite.open();
    expect(conn.frameMax).toBe(131072);
  });

  it('negotiates 8192, the smallest RabbitMQ 4 accepts, and carries a body over many frames', async () => {
    const conn = await suite.open(brokerOptions({ frameMax: 8192 }));
    expect(conn.frameMax).toBe(8192);
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const { queue } = await ch.queueDeclare({ queue: '', exclusive: true });
    const body = Buffer.alloc(100_000, 7);
    body.write('head');
    await ch.basicPublish({ routingKey: queue }, body);
    const got = await ch.basicGet({ queue, noAck: true });
    expect(got?.body.equals(body)).toBe(true);
  });

  it("with no limit asked (frameMax 0), takes the broker's 131072", async () => {
    const conn = await suite.open(brokerOptions({ frameMax: 0 }));
    expect(conn.frameMax).toBe(131072);
  });
});

/** Requeues the queue's one message until the broker stops handing it out; returns the deliveries seen. */
async function requeueUntilGone(ch: Channel, queue: string, max: number): Promise<number> {
  let deliveries = 0;
  for (let i = 0; i < max; i++) {
    const m = await ch.basicGet({ queue });
    if (m === null) break;
    deliveries++;
    ch.basicNack(m.deliveryTag, { requeue: true });
  }
  return deliveries;
}

describe('RabbitMQ 4: quorum queues have a delivery limit of 20 by default', () => {
  async function quorumWithOneMessage(args: FieldTable): Promise<{ ch: Channel; queue: string }> {
    const conn = await suite.open();
    const ch = await conn.createChannel();
    await ch.confirmSelect();
    const queue = uniqueName('rmq4.delivery-limit');
    suite.deleteQueuesAfter(queue);
    await ch.queueDeclare({ queue, durable: true, arguments: { 'x-queue-type': 'quorum', ...args } });
    await ch.basicPublish({ routingKey: queue }, 'poison');
    return { ch, queue };
  }

  it('drops a message (no dead-letter exchange) after 20 requeues: 21 deliveries, then the queue is empty', async () => {
    const { ch, queue } = await quorumWithOneMessage({});
    expect(await requeueUntilGone(ch, queue, 40)).toBe(21);
    expect(await ch.basicGet({ queue, noAck: true })).toBeNull();
  });

  it('x-delivery-limit -1 lifts the limit: 30 requeues and the message is still there', async () => {
    const { ch, queue } = await quorumWithOneMessage({ 'x-delivery-limit': -1 });
    expect(await requeueUntilGone(ch, queue, 30)).toBe(30);
    const last = await ch.basicGet({ queue, noAck: true });
    expect(last?.body.toString()).toBe('poison');
  });
});
