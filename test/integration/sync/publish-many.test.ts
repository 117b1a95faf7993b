import { afterAll, describe, expect, it } from 'vitest';
import { InvalidMessageError, UnroutableError } from '../../../src/client/errors.js';
import { WarrenError } from '../../../src/protocol/errors.js';
import { PublishManyError } from '../../../src/sync/errors.js';
import { SyncRabbitMQ } from '../../../src/sync/sync-rabbitmq.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { thrown } from '../../helpers/thrown.js';

const opened: SyncRabbitMQ[] = [];
function client(queue: string): SyncRabbitMQ {
  const mq = new SyncRabbitMQ({ queues: [{ name: queue, exclusive: true }] }, { urls: brokerUrl() });
  opened.push(mq);
  mq.connect();
  return mq;
}

afterAll(() => {
  for (const mq of opened) mq.close();
});

/** Drains `queue` and returns the `i` field of every message in it. */
function drain(mq: SyncRabbitMQ, queue: string): number[] {
  const ch = mq.getChannel();
  const seen: number[] = [];
  for (let m = ch.basicGet({ queue, noAck: true }); m; m = ch.basicGet({ queue, noAck: true })) {
    seen.push((JSON.parse(m.body.toString()) as { i: number }).i);
  }
  return seen;
}

describe('SyncRabbitMQ.publishMany', () => {
  it('confirms 1000 messages; the one unroutable index is reported, the 999 others are in the queue once', () => {
    const queue = uniqueName('many');
    const mq = client(queue);
    const bad = 613;
    const messages = Array.from({ length: 1000 }, (_, i) => ({
      routingKey: i === bad ? uniqueName('nowhere') : queue,
      message: { i },
    }));
    const err = thrown(PublishManyError, () => mq.publishMany(messages));
    expect(err).toBeInstanceOf(WarrenError);
    expect(err.code).toBe('ERR_PUBLISH_MANY');
    expect(err.total).toBe(1000);
    expect(err.failures.map((f) => f.index)).toEqual([bad]);
    expect(err.failures[0]!.error).toBeInstanceOf(UnroutableError);
    expect((err.failures[0]!.error as UnroutableError).code).toBe('ERR_UNROUTABLE');
    expect(err.message).toContain(`#${bad}`);

    const seen = drain(mq, queue).sort((a, b) => a - b);
    expect(seen).toHaveLength(999);
    expect(new Set(seen).size).toBe(999);
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i).filter((i) => i !== bad));
    mq.disconnect();
  });

  it('a message to a missing exchange fails alone: its index reported with 404, every other confirmed once', () => {
    const queue = uniqueName('many');
    const mq = client(queue);
    const bad = 250;
    const missing = uniqueName('no-such-exchange');
    const messages = Array.from({ length: 1000 }, (_, i) => ({
      routingKey: queue,
      message: { i },
      options: i === bad ? { exchange: missing } : undefined,
    }));
    const err = thrown(PublishManyError, () => mq.publishMany(messages));
    expect(err.failures.map((f) => f.index)).toEqual([bad]);
    const cause = err.failures[0]!.error as WarrenError;
    expect(cause).toBeInstanceOf(WarrenError);
    expect(cause.replyCode).toBe(404);

    const seen = drain(mq, queue).sort((a, b) => a - b);
    expect(new Set(seen).size).toBe(seen.length); // no duplicates
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, i) => i).filter((i) => i !== bad));
    mq.disconnect();
  });

  it('returns when all are confirmed; refuses a malformed batch before sending anything', () => {
    const queue = uniqueName('many');
    const mq = client(queue);
    mq.publishMany([]);
    mq.publishMany([
      { routingKey: queue, message: { i: 0 } },
      { routingKey: queue, message: Buffer.from('{"i":1}') },
      { routingKey: queue, message: '{"i":2}', options: { headers: { big: 2n ** 40n } } },
    ]);
    thrown(InvalidMessageError, () => mq.publishMany([{ routingKey: queue, message: { i: 3 } }, null as never]));
    thrown(InvalidMessageError, () => mq.publishMany('x' as never));
    expect(drain(mq, queue)).toEqual([0, 1, 2]);
    mq.disconnect();
  });
});
