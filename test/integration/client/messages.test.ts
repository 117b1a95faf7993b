/**
 * `for await (const msg of mq.messages(queue, options))` against the real broker: ack on the next pull
 * or msg.ack(), a throw in the body → the retry path, a break → what was sent ahead requeued, bounded by
 * prefetch, abort via signal.
 */
import { describe, expect, it } from 'vitest';
import { deadLetterName, HandlerError, LoopExitedError } from '../../../src/client/consumer.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, queueInfo, drain } = consumeFixture();

async function publishN(mq: { publishMessage(q: string, m: { n: number }): Promise<void> }, q: string, n: number) {
  for (let i = 0; i < n; i++) await mq.publishMessage(q, { n: i });
}

describe('messages(): an async iterator over a queue', () => {
  it('yields every message in order and acks each when the next one is pulled; prefetch bounds what is held', async () => {
    const q = queueName('iter.basic');
    const mq = await client({ queues: [{ name: q }] });
    await publishN(mq, q, 20);
    const got: number[] = [];
    const held: number[] = [];
    for await (const msg of mq.messages<{ n: number }>(q, { json: true, prefetch: 3 })) {
      got.push(msg.value.n);
      const info = await queueInfo(q);
      // Ready = total - acked - unacked; unacked never exceeds the prefetch.
      held.push(20 - got.length + 1 - info.messageCount);
      if (got.length === 20) {
        msg.ack();
        break;
      }
    }
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(Math.max(...held)).toBeLessThanOrEqual(3);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
    expect(await drain(deadLetterName(q))).toHaveLength(0);
  });

  it('break: the current message is acked only if msg.ack() was called; what was sent ahead goes back untouched', async () => {
    const q = queueName('iter.break');
    const mq = await client({ queues: [{ name: q }] });
    await publishN(mq, q, 10);
    const got: number[] = [];
    for await (const msg of mq.messages<{ n: number }>(q, { json: true, prefetch: 5 })) {
      got.push(msg.value.n);
      if (got.length === 3) {
        msg.ack();
        break;
      }
    }
    expect(got).toEqual([0, 1, 2]);
    // 3 acked; the (up to 4) held ahead were requeued, not counted as attempts, nothing dead-lettered.
    expect(await queueInfo(q)).toMatchObject({ messageCount: 7, consumerCount: 0 });
    const rest = await drain(q);
    expect(rest.map((m) => (JSON.parse(m.body.toString()) as { n: number }).n).sort((a, b) => a - b)).toEqual([
      3, 4, 5, 6, 7, 8, 9,
    ]);
    for (const m of rest) expect(m.properties.headers?.['x-warren-attempt']).toBeUndefined();
    expect(await drain(deadLetterName(q))).toHaveLength(0);
  });

  it('a throw in the body: that message takes the retry path as a handler failure; the rest go back', async () => {
    const q = queueName('iter.throw', [20]);
    const mq = await client({ queues: [{ name: q }] });
    const errors: unknown[] = [];
    mq.on('error', (e) => errors.push(e));
    await publishN(mq, q, 5);
    const boom = new Error('bad record');
    const caught = await (async () => {
      for await (const msg of mq.messages<{ n: number }>(q, {
        json: true,
        prefetch: 5,
        retry: { attempts: 2, delayMs: 20 },
      })) {
        if (msg.value.n === 1) throw boom;
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(caught).toBe(boom); // the loop's own error reaches its caller
    // n=0 acked; n=1 retried (attempt 2, back in the queue through the retry queue); n=2..4 requeued.
    await waitFor(async () => (await queueInfo(q)).messageCount === 4, 'four messages back in the queue');
    const rest = await drain(q);
    const byN = new Map(
      rest.map((m) => [(JSON.parse(m.body.toString()) as { n: number }).n, m.properties.headers ?? {}]),
    );
    expect([...byN.keys()].sort()).toEqual([1, 2, 3, 4]);
    expect(byN.get(1)).toMatchObject({ 'x-warren-attempt': 2 });
    expect(String(byN.get(1)?.['x-warren-error'])).toContain('was left (break, return or throw)');
    expect(byN.get(2)?.['x-warren-attempt']).toBeUndefined();
    const failures = errors.filter((e) => e instanceof HandlerError) as HandlerError[];
    expect(failures).toHaveLength(1);
    expect(failures[0]!.outcome).toBe('retry');
    expect(failures[0]!.cause).toBeInstanceOf(LoopExitedError);
  });

  it('outcomes work in a loop: deadLetter and requeue settle the message at once', async () => {
    const q = queueName('iter.outcomes');
    const mq = await client({ queues: [{ name: q }] });
    await publishN(mq, q, 3);
    const seen: string[] = [];
    for await (const msg of mq.messages<{ n: number }>(q, { json: true })) {
      seen.push(`${msg.value.n}@${msg.attempt}`);
      if (msg.value.n === 0) msg.deadLetter('poison');
      else if (msg.value.n === 1 && msg.attempt === 1) msg.requeue('later');
      if (seen.length === 4) {
        msg.ack();
        break;
      }
    }
    expect(seen).toEqual(['0@1', '1@1', '2@1', '1@2']);
    const dead = await drain(deadLetterName(q));
    expect(dead.map((m) => m.properties.headers?.['x-warren-error'])).toEqual(['poison']);
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
  });

  it('abort via signal: a waiting loop ends, the consumer is cancelled, nothing is lost', async () => {
    const q = queueName('iter.abort');
    const mq = await client({ queues: [{ name: q }] });
    await publishN(mq, q, 2);
    const ac = new AbortController();
    const got: number[] = [];
    const stream = mq.messages<{ n: number }>(q, { json: true, prefetch: 10, signal: ac.signal });
    const loop = (async () => {
      for await (const msg of stream) {
        got.push(msg.value.n);
        if (got.length === 2) setTimeout(() => ac.abort(), 50); // abort while the loop waits for a third
      }
    })();
    await loop;
    expect(got).toEqual([0, 1]);
    expect(stream.consumer?.state).toBe('stopped');
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
    // Aborted before it starts: no subscription at all.
    const stream2 = mq.messages(q, { signal: AbortSignal.abort() });
    for await (const _ of stream2) throw new Error('nothing expected');
    expect(stream2.consumer).toBeUndefined();
  });

  it('abort during the body: that message is acked when the body completes, the ones sent ahead go back', async () => {
    const q = queueName('iter.abort-mid');
    const mq = await client({ queues: [{ name: q }] });
    await publishN(mq, q, 6);
    const ac = new AbortController();
    const got: number[] = [];
    for await (const msg of mq.messages<{ n: number }>(q, { json: true, prefetch: 4, signal: ac.signal })) {
      got.push(msg.value.n);
      if (msg.value.n === 1) {
        ac.abort();
        await sleep(50); // still working on it after the abort
      }
    }
    expect(got).toEqual([0, 1]);
    const rest = await drain(q);
    expect(rest.map((m) => (JSON.parse(m.body.toString()) as { n: number }).n).sort()).toEqual([2, 3, 4, 5]);
    expect(await drain(deadLetterName(q))).toHaveLength(0);
  });

  it('a message failing the schema never reaches the loop: it is dead-lettered', async () => {
    const q = queueName('iter.schema');
    const mq = await client({ queues: [{ name: q }] });
    const Positive = {
      parse: (v: unknown) => {
        if (typeof (v as { n?: unknown }).n !== 'number' || (v as { n: number }).n < 0)
          throw new Error('n must be ≥ 0');
        return v as { n: number };
      },
    };
    await mq.publishMessage(q, { n: -1 });
    await mq.publishMessage(q, { n: 5 });
    for await (const msg of mq.messages(q, { schema: Positive })) {
      expect(msg.value.n).toBe(5);
      msg.ack();
      break;
    }
    const dead = await drain(deadLetterName(q));
    expect(dead.map((m) => m.properties.headers?.['x-warren-error'])).toEqual([
      'schema validation failed: n must be ≥ 0',
    ]);
  });

  it("a consumer's 'stopping' listener may call stop() again: one stop, then 'stopped'", async () => {
    const q = queueName('iter.reentrant-stop');
    const mq = await client({ queues: [{ name: q }] });
    const consumer = await mq.consume(q, () => {});
    const events: string[] = [];
    consumer.on('stopping', () => {
      events.push('stopping');
      void consumer.stop();
    });
    consumer.on('stopped', () => events.push('stopped'));
    await consumer.stop();
    expect(events).toEqual(['stopping', 'stopped']);
    expect(consumer.state).toBe('stopped');
    expect((await queueInfo(q)).consumerCount).toBe(0);
  });

  it('the client disconnecting ends a waiting loop', async () => {
    const q = queueName('iter.disconnect');
    const mq = await client({ queues: [{ name: q }] });
    const loop = (async () => {
      let n = 0;
      for await (const _ of mq.messages(q)) n++;
      return n;
    })();
    await waitFor(async () => (await queueInfo(q)).consumerCount === 1, 'the subscription');
    await mq.disconnect();
    expect(await loop).toBe(0);
    expect((await queueInfo(q)).consumerCount).toBe(0);
  });
});
