/**
 * reapQueue() against the real broker — classic and quorum queues, in use, not empty, missing — and the
 * README's migration recipe from a classic queue to a quorum `<name>_v2` under load, nothing lost.
 */
import { describe, expect, it } from 'vitest';
import { UnroutableError } from '../../../src/client/errors.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, queueInfo, deleteAfter, adminChannelDo } = consumeFixture();

async function exists(queue: string): Promise<boolean> {
  return adminChannelDo((ch) => ch.queueDeclare({ queue, passive: true })).then(
    () => true,
    (err: unknown) => {
      if (err instanceof ChannelError && err.replyCode === 404) return false;
      throw err;
    },
  );
}

describe('reapQueue', () => {
  for (const type of ['classic', 'quorum'] as const) {
    it(`${type}: refuses while consumed or holding messages, deletes once unused; the client's connection stays up`, async () => {
      const q = queueName(`reap.${type}`);
      const mq = await client({ queues: [{ name: q, arguments: { 'x-queue-type': type } }] });
      const conn = mq.connection;
      const consumer = await mq.consume(q, () => new Promise(() => {}), { deadLetter: false });
      expect(await mq.reapQueue(q)).toEqual({
        queue: q,
        deleted: false,
        reason: 'in-use',
        consumerCount: 1,
        messageCount: 0,
        deletedMessages: 0,
      });
      await consumer.stop({ timeoutMs: 100 });
      await mq.publishMessage(q, 'a');
      await mq.publishMessage(q, 'b');
      await waitFor(async () => (await queueInfo(q)).messageCount === 2, 'two ready messages');
      expect(await mq.reapQueue(q)).toMatchObject({ deleted: false, reason: 'not-empty', messageCount: 2 });
      expect(await exists(q)).toBe(true);
      expect(await mq.reapQueue(q, { discardMessages: true })).toMatchObject({
        deleted: true,
        consumerCount: 0,
        messageCount: 2,
        deletedMessages: 2,
      });
      expect(await exists(q)).toBe(false);
      expect(await mq.reapQueue(q)).toMatchObject({ deleted: false, reason: 'missing' });
      // No 540 NOT_IMPLEMENTED (if-unused on a quorum queue) took the connection down.
      expect(mq.connection).toBe(conn);
      expect(conn?.isOpen).toBe(true);
    });
  }
});

describe('migrating a classic queue to a quorum <name>_v2 under load (README recipe)', () => {
  it('every message is consumed at least once and none is left', async () => {
    const ex = uniqueName('migrate');
    const old = queueName('migrate.orders');
    const v2 = `${old}_v2`;
    deleteAfter({ exchanges: [ex], queues: [v2, `${v2}.dead`] });
    deleteAfter({ exchanges: [`${v2}.dead`] });
    const exchange = { name: ex, type: 'direct' as const };
    // Today's deployment: the classic queue, bound to the exchange, and a consumer on it.
    const before = await client({
      exchanges: [exchange],
      queues: [{ name: old, exchange: ex, routingKey: 'orders', arguments: { 'x-queue-type': 'classic' } }],
    });
    const producer = await client({ exchanges: [exchange] });
    const consumed = new Map<number, number>();
    const count = (seq: number) => consumed.set(seq, (consumed.get(seq) ?? 0) + 1);
    const oldConsumer = await before.consume<{ seq: number }>(old, (m) => void count(m.value.seq), {
      json: true,
      prefetch: 10,
    });
    let next = 0;
    let unroutable = 0;
    let producing = true;
    const pump = (async () => {
      while (producing) {
        // mandatory (the default): a moment with no queue bound would reject with UnroutableError.
        await producer.publishMessage('orders', { seq: next++ }, { exchange: ex }).catch((err: unknown) => {
          if (err instanceof UnroutableError) unroutable++;
          else throw err;
        });
        await sleep(1);
      }
    })();
    await waitFor(() => consumed.size >= 50, 'traffic on the old queue');

    // 1. Declare <name>_v2 (quorum) with the same binding: the new deployment's topology.
    const after = await client({
      exchanges: [exchange],
      queues: [{ name: v2, exchange: ex, routingKey: 'orders', arguments: { 'x-queue-type': 'quorum' } }],
    });
    // 2. Move the consumer: the new one consumes v2 (both queues get every message meanwhile).
    const newConsumer = await after.consume<{ seq: number }>(v2, (m) => void count(m.value.seq), {
      json: true,
      prefetch: 10,
    });
    await sleep(200);
    // 3. Unbind the old queue: nothing new arrives there; v2 keeps getting everything.
    const ch = await after.getChannel();
    await ch.queueUnbind({ queue: old, exchange: ex, routingKey: 'orders' });
    // 4. Drain it: its consumer finishes what is left, then stops.
    await waitFor(
      async () => (await queueInfo(old)).messageCount === 0 && oldConsumer.inFlight === 0,
      'the old queue drained',
    );
    await oldConsumer.stop();
    // 5. Reap it: nothing consumes it, nothing is in it.
    const reaped = await after.reapQueue(old, { queueType: 'classic' });
    expect(reaped).toMatchObject({ deleted: true, deletedMessages: 0 });
    await before.disconnect(); // the old deployment is gone (its topology would declare the queue again)
    await sleep(200);
    producing = false;
    await pump;
    const total = next;
    await waitFor(async () => (await queueInfo(v2)).messageCount === 0 && newConsumer.inFlight === 0, 'v2 drained');
    await waitFor(() => consumed.size === total, 'every message consumed');
    const missing = Array.from({ length: total }, (_, i) => i).filter((s) => !consumed.has(s));
    expect(missing).toEqual([]);
    expect(unroutable).toBe(0);
    expect(await exists(old)).toBe(false);
    expect((await queueInfo(v2)).messageCount).toBe(0);
    expect(total).toBeGreaterThan(100);
  });
});
