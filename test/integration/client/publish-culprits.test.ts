/**
 * A poison publish among many in flight, against the real broker: the broker closes the publish channel
 * for it (and drops everything written after it); the client rejects that message alone, with the
 * broker's error, and every innocent message resolves and reaches the queue.
 *
 * A publish nothing proved safe yet (a new exchange, a new user_id) is written alone, so when it is the
 * poison nothing else is lost with the channel and every innocent message arrives exactly once. A poison
 * nothing announces (a malformed CC header) is written among the others: the broker drops what was
 * written after it (written again, arrives once) and the confirms of what it handled before it and had
 * not confirmed yet (written again: at-least-once, so those may be in the queue twice).
 */
import { describe, expect, it } from 'vitest';
import type { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import { InvalidMessageError, MessageTooLargeError } from '../../../src/client/errors.js';
import type { PublishMessageOptions } from '../../../src/client/message.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { uniqueName } from '../../helpers/broker.js';
import { clientSuite, getAll, messageCount, rejectionOf } from './client-helpers.js';

const suite = clientSuite();

async function withQueue(label: string, options = {}): Promise<{ mq: AsyncRabbitMQ; queue: string }> {
  const queue = uniqueName(`culprit.${label}`);
  suite.deleteQueuesAfter(queue);
  const mq = suite.client({ queues: [{ name: queue, durable: true }] }, options);
  await mq.connect();
  return { mq, queue };
}

/**
 * 100 innocents, the poison, 100 innocents, published together; checks the outcome. `exactlyOnce`: every
 * innocent is in the queue once (the poison was written alone, as a publish nothing proved safe yet);
 * otherwise those written before it may be there twice.
 */
async function poisonAmongInnocents(
  label: string,
  poison: PublishMessageOptions,
  replyCode: number,
  exactlyOnce: boolean,
): Promise<void> {
  const { mq, queue } = await withQueue(label);
  const before = Array.from({ length: 100 }, (_, i) => `before-${i}`);
  const after = Array.from({ length: 100 }, (_, i) => `after-${i}`);
  const good = (id: string) => mq.publishMessage(queue, id, { messageId: id });
  const results = await Promise.allSettled([
    ...before.map(good),
    mq.publishMessage(queue, 'poison', { messageId: 'poison', ...poison }),
    ...after.map(good),
  ]);
  const bad = results[100]!;
  expect(bad.status).toBe('rejected');
  const err = (bad as PromiseRejectedResult).reason as ChannelError;
  expect(err).toBeInstanceOf(ChannelError);
  expect(err.replyCode).toBe(replyCode);
  const innocents = results.filter((_, i) => i !== 100);
  const rejected = innocents.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  expect(
    rejected.length,
    `innocent messages rejected: ${rejected[0] ? (rejected[0].reason as Error).message : ''}`,
  ).toBe(0);
  expect(innocents.filter((r) => r.status === 'fulfilled')).toHaveLength(200);

  const copies = new Map<string, number>();
  for (const m of await getAll(await mq.getChannel(), queue)) {
    const id = String(m.properties.messageId);
    copies.set(id, (copies.get(id) ?? 0) + 1);
  }
  expect(copies.has('poison')).toBe(false);
  expect(before.filter((id) => !copies.has(id))).toEqual([]);
  expect(after.filter((id) => copies.get(id) !== 1)).toEqual([]);
  expect(before.filter((id) => (copies.get(id) ?? 0) > (exactlyOnce ? 1 : 2))).toEqual([]);
  // The client carries on with a healthy publish channel.
  await expect(good('later')).resolves.toBeUndefined();
  expect(mq.isReady).toBe(true);
  expect(mq.pendingPublishes).toBe(0);
}

describe('publishMessage: one poison message among 200 in flight', () => {
  it('a wrong userId (406): exactly that message rejects, the 200 others resolve and are in the queue once each', async () => {
    await poisonAmongInnocents('user-id', { userId: uniqueName('not-the-user') }, 406, true);
  });

  it('a missing exchange (404): exactly that message rejects, the 200 others resolve and are in the queue once each', async () => {
    await poisonAmongInnocents('missing-ex', { exchange: uniqueName('culprit.missing') }, 404, true);
  });

  it('a close that names no message (406 on a CC header that is not an array): found by sending one at a time', async () => {
    await poisonAmongInnocents('cc', { headers: { CC: 'not-an-array' } }, 406, false);
  });
});

describe('publishMessage: maxMessageBytes', () => {
  it('rejects a 17 MiB message at once (default limit 16 MiB, RabbitMQ 4) and writes nothing', async () => {
    const { mq, queue } = await withQueue('too-large');
    const size = 17 * 1024 * 1024;
    const pending = mq.publishMessage(queue, Buffer.alloc(size));
    expect(mq.pendingPublishes).toBe(0);
    const err = await rejectionOf(pending);
    expect(err).toBeInstanceOf(MessageTooLargeError);
    expect((err as MessageTooLargeError).code).toBe('ERR_MESSAGE_TOO_LARGE');
    expect((err as MessageTooLargeError).size).toBe(size);
    expect((err as MessageTooLargeError).limit).toBe(16 * 1024 * 1024);
    expect(err.message).toContain(String(size));
    const ch = await mq.getChannel();
    expect(await messageCount(ch, queue)).toBe(0);
    await mq.publishMessage(queue, 'small');
    expect(await messageCount(ch, queue)).toBe(1);
    expect(mq.isReady).toBe(true);
  });

  it('takes its limit from the publish options', async () => {
    const { mq, queue } = await withQueue('limit', { publish: { maxMessageBytes: 1000 } });
    const err = await rejectionOf(mq.publishMessage(queue, Buffer.alloc(1001)));
    expect((err as MessageTooLargeError).limit).toBe(1000);
    await mq.publishMessage(queue, Buffer.alloc(1000));
    expect(await messageCount(await mq.getChannel(), queue)).toBe(1);
  });
});

describe('publishMessage: header values RabbitMQ cannot parse', () => {
  // RabbitMQ closes the whole connection (541) on a non-finite double in a field table; written, such a
  // message would be republished after every reconnect, forever.
  for (const [label, value] of [
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity in a nested table', { inner: Number.NEGATIVE_INFINITY }],
  ] as const) {
    it(`${label}: that publish rejects with an error naming the header, nothing is written, the connection stays`, async () => {
      const { mq, queue } = await withQueue('non-finite');
      let lost = 0;
      mq.on('disconnected', () => lost++);
      const err = await rejectionOf(mq.publishMessage(queue, 'x', { headers: { bad: value } }));
      expect(err).toBeInstanceOf(InvalidMessageError);
      expect(err.message).toContain('headers["bad"]');
      await mq.publishMessage(queue, 'after');
      const ch = await mq.getChannel();
      expect(await messageCount(ch, queue)).toBe(1);
      expect(lost).toBe(0);
      expect(mq.pendingPublishes).toBe(0);
    });
  }
});
