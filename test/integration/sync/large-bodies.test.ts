import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { WarrenError } from '../../../src/protocol/errors.js';
import { SyncRabbitMQ } from '../../../src/sync/sync-rabbitmq.js';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { thrown } from '../../helpers/thrown.js';

const MiB = 1024 * 1024;
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

describe('SyncRabbitMQ across the thread hop', () => {
  it('round-trips bodies of 1 MiB and more byte-exact both ways; the caller owns every Buffer', () => {
    const queue = uniqueName('large');
    const mq = client(queue);
    const small = randomBytes(100);
    const big = randomBytes(MiB + 3);
    const bigger = randomBytes(3 * MiB + 1);
    const bigCopy = Buffer.from(big);
    // A body that is a view into a larger buffer: only its own bytes are sent.
    const pool = randomBytes(2 * MiB);
    const view = pool.subarray(7, 7 + MiB);

    mq.publishMessage(queue, small);
    mq.publishMessage(queue, big, { headers: { raw: big.subarray(0, 1000) } });
    mq.publishMany([
      { routingKey: queue, message: bigger },
      { routingKey: queue, message: view },
    ]);
    mq.publishMessage(queue, small);
    // The caller's Buffers are read during the call, never detached or changed.
    expect(big.byteLength).toBe(MiB + 3);
    expect(big.equals(bigCopy)).toBe(true);

    const ch = mq.getChannel();
    const got = [1, 2, 3, 4, 5].map(() => ch.basicGet({ queue, noAck: true }));
    expect(got.map((m) => m?.body.byteLength)).toEqual([100, MiB + 3, 3 * MiB + 1, MiB, 100]);
    expect(got[0]!.body.equals(small)).toBe(true);
    expect(got[1]!.body.equals(big)).toBe(true);
    expect((got[1]!.properties.headers!.raw as Buffer).equals(big.subarray(0, 1000))).toBe(true);
    expect(got[2]!.body.equals(bigger)).toBe(true);
    expect(got[3]!.body.equals(view)).toBe(true);
    expect(got[4]!.body.equals(small)).toBe(true);
    // Returned bodies are the caller's own memory, not views of the shared area a later call reuses.
    for (const m of got) expect(m!.body.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    expect(got[1]!.body.equals(big)).toBe(true);
    expect(ch.basicGet({ queue })).toBeNull();
    mq.disconnect();
  });

  it('a call that timed out does not mix its late answer into the next call', () => {
    const queue = uniqueName('stale');
    const mq = client(queue);
    const ch = mq.getChannel();
    const { consumerTag } = ch.basicConsume({ queue });
    // The worker answers this pull after 400 ms; the caller stops waiting after 50.
    const err = thrown(WarrenError, () => mq.callWithin(50, 'next', ch.handle, consumerTag, 400));
    expect(err.code).toBe('ERR_SYNC_TIMEOUT');
    // The next calls get their own answers: one while the late answer is still coming...
    expect(mq.state).toBe('ready');
    // ...and one after it was written (it waits in the reply area until the caller skips it).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600);
    mq.publishMessage(queue, 'after');
    expect(ch.queueDeclare({ queue, passive: true }).consumerCount).toBe(1);
    ch.basicCancel(consumerTag);
    expect(ch.basicGet({ queue, noAck: true })?.body.toString()).toBe('after');
    mq.disconnect();
  });
});
