/**
 * Values another client may legally publish that JS types cannot hold directly: a 64-bit timestamp that is
 * negative when read as signed (or out of Date range), in the timestamp property and in a header, and a
 * negative int64 header. amqplib publishes them through the real broker; a warren consumer must receive
 * them exactly, without its connection closing (it used to close with 502 and get the message again after
 * every reconnect), and publishing them back must reproduce them.
 */
import amqplib from 'amqplib';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../../src/connection/channel.js';
import { RawTimestamp } from '../../../src/protocol/index.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { engineSuite, waitFor } from './engine-helpers.js';

const suite = engineSuite();

describe('values published by another client', () => {
  it('a negative int64 timestamp and headers reach a warren consumer exactly; the connection stays open', async () => {
    const queue = uniqueName('foreign-values');
    const back = uniqueName('foreign-values-back');
    const conn = await suite.open();
    let closed = false;
    conn.on('close', () => {
      closed = true;
    });
    const ch = await conn.createChannel();
    await ch.queueDeclare({ queue, exclusive: true });
    await ch.queueDeclare({ queue: back, exclusive: true });

    // amqplib writes timestamps as unsigned 64-bit: 2^64 - 2048 is the bit pattern of -2048 s.
    const other = await amqplib.connect(brokerUrl());
    suite.defer(() => other.close());
    const och = await other.createConfirmChannel();
    await new Promise<void>((resolve, reject) =>
      och.publish(
        '',
        queue,
        Buffer.from('from amqplib'),
        {
          timestamp: 2 ** 64 - 2048,
          headers: {
            ts: { '!': 'timestamp', value: 2 ** 63 }, // int64 min: no Date can hold it
            neg: { '!': 'int64', value: -5 },
          },
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );

    const received: Delivery[] = [];
    await ch.basicConsume({ queue, noAck: true }, (d) => received.push(d));
    await waitFor(() => received.length === 1, 'the delivery', 5000);
    const d = received[0]!;
    expect(d.decodeError).toBeUndefined();
    expect(d.body.toString()).toBe('from amqplib');
    expect(d.properties.timestamp?.getTime()).toBe(-2048 * 1000);
    const ts = d.properties.headers?.ts;
    expect(ts).toBeInstanceOf(RawTimestamp);
    expect((ts as RawTimestamp).seconds).toBe(-(2n ** 63n));
    expect(d.properties.headers?.neg).toBe(-5n);

    // Sent back as received: the same values arrive.
    await ch.basicPublish({ routingKey: back }, d.body, d.properties);
    await waitFor(async () => (await ch.queueDeclare({ queue: back, passive: true })).messageCount === 1, 'the echo');
    const echo = await ch.basicGet({ queue: back, noAck: true });
    expect(echo?.properties.timestamp?.getTime()).toBe(-2048 * 1000);
    expect(echo?.properties.headers?.ts).toEqual(ts);
    expect((echo?.properties.headers?.ts as RawTimestamp | undefined)?.seconds).toBe(-(2n ** 63n));
    expect(echo?.properties.headers?.neg).toBe(-5n);

    expect(closed).toBe(false);
    expect(conn.isOpen && ch.isOpen).toBe(true);
  });
});
