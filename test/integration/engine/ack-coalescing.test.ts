import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, Delivery } from '../../../src/connection/channel.js';
import { connect } from '../../../src/connection/connect.js';
import type { Connection } from '../../../src/connection/connection.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';

let conn: Connection | undefined;
let created: string | undefined;
afterEach(async () => {
  if (created && conn?.isOpen) {
    const ch = await conn.createChannel();
    await ch.queueDelete({ queue: created });
  }
  await conn?.close();
  conn = undefined;
  created = undefined;
});

async function setup(n: number): Promise<{ ch: Channel; queue: string; check: Channel }> {
  conn = await connect(brokerUrl());
  const ch = await conn.createChannel();
  const check = await conn.createChannel();
  const queue = uniqueName('acks');
  await ch.queueDeclare({ queue, durable: true });
  created = queue;
  await ch.confirmSelect();
  await Promise.all(Array.from({ length: n }, (_, i) => ch.basicPublish({ routingKey: queue }, String(i))));
  return { ch, queue, check };
}

function collect(ch: Channel, queue: string, n: number, prefetch: number): Promise<Delivery[]> {
  return new Promise((resolve, reject) => {
    const got: Delivery[] = [];
    ch.basicQos({ prefetchCount: prefetch })
      .then(() =>
        ch.basicConsume({ queue }, (d) => {
          got.push(d);
          if (got.length === n) resolve(got);
        }),
      )
      .catch(reject);
  });
}

async function settledCounts(check: Channel, queue: string): Promise<{ messageCount: number }> {
  // Give the broker a moment to process the acks sent at the end of the last tick.
  await new Promise((r) => setTimeout(r, 100));
  return check.queueDeclare({ queue, passive: true });
}

describe('acks coalesced on the wire', () => {
  it('in-order individual acks of 2000 deliveries settle every message, and the channel stays open', async () => {
    const { ch, queue, check } = await setup(2000);
    const deliveries = await collect(ch, queue, 2000, 2000);
    for (const d of deliveries) expect(ch.basicAck(d.deliveryTag)).toBe(true);
    await ch.basicCancel(deliveries[0]!.consumerTag);
    await ch.basicRecover({ requeue: true }); // would redeliver anything left unacked
    expect((await settledCounts(check, queue)).messageCount).toBe(0);
    expect(ch.isOpen).toBe(true);
  });

  it('out-of-order acks, nacks and rejects mixed with in-order acks settle exactly what was asked', async () => {
    const { ch, queue, check } = await setup(10);
    const d = await collect(ch, queue, 10, 10);
    const tag = (i: number) => d[i]!.deliveryTag;
    ch.basicAck(tag(1)); // out of order: 0 is unsettled
    ch.basicAck(tag(0)); // in order, and the floor moves over 1
    ch.basicReject(tag(2), { requeue: true }); // back to the queue
    ch.basicAck(tag(3));
    ch.basicAck(tag(4));
    ch.basicNack(tag(6), { multiple: true, requeue: false }); // drops 5 and 6
    ch.basicAck(tag(7));
    // 8 and 9 stay unacked: they must not be covered by any coalesced multiple ack.
    await ch.basicCancel(d[0]!.consumerTag);
    await new Promise((r) => setTimeout(r, 100));
    expect(ch.isOpen).toBe(true);
    // Close the consuming channel: its unacked 8 and 9 go back to the queue, joining the rejected 2.
    await ch.close();
    const left: string[] = [];
    for (;;) {
      const m = await check.basicGet({ queue, noAck: true });
      if (m === null) break;
      left.push(m.body.toString());
    }
    expect(left.sort()).toEqual(['2', '8', '9']);
  });
});

describe('acks owed when the connection closes', () => {
  for (const prefetch of [1, 500]) {
    it(`are written before connection.close (prefetch ${prefetch})`, async () => {
      const { ch, queue } = await setup(300);
      const got = await collect(ch, queue, prefetch === 1 ? 1 : 300, prefetch);
      for (const d of got) ch.basicAck(d.deliveryTag);
      const acked = got.length;
      // Close at once, in the same tick as the acks: nothing owed may be lost.
      await conn!.close();
      conn = await connect(brokerUrl());
      const check = await conn.createChannel();
      expect((await check.queueDeclare({ queue, passive: true })).messageCount).toBe(300 - acked);
    });
  }
});

describe('acks owed when the channel closes', () => {
  it('are written before channel.close, in the same tick', async () => {
    const { ch, queue, check } = await setup(20);
    const got = await collect(ch, queue, 20, 20);
    for (const d of got.slice(0, 12)) ch.basicAck(d.deliveryTag);
    await ch.close(); // 8 unacked go back to the queue; the 12 acked must not
    expect((await check.queueDeclare({ queue, passive: true })).messageCount).toBe(8);
  });
});
