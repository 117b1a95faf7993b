/**
 * Explicit handler outcomes against the real broker: requeue(), retryLater(), deadLetter(), drop() —
 * made with the message's methods, returned, or thrown — and where each message ends up, with which
 * x-warren-* headers.
 */
import { describe, expect, it } from 'vitest';
import {
  type ConsumeMessage,
  consume,
  DEFAULT_OUTCOME_ATTEMPTS,
  deadLetterName,
  type HandlerError,
  Outcome,
  retryQueueName,
} from '../../../src/client/consumer.js';
import type { Logger } from '../../../src/client/settings.js';
import { waitFor } from '../../helpers/wait.js';
import { consumeFixture } from './consume-fixture.js';

const { client, queueName, queueInfo, drain } = consumeFixture();

interface Seen {
  attempt: number;
  headers: Record<string, unknown>;
  routingKey: string;
}

function record(seen: Seen[], msg: ConsumeMessage): void {
  seen.push({ attempt: msg.attempt, headers: { ...msg.headers }, routingKey: msg.fields.routingKey });
}

describe('explicit outcomes', () => {
  it('requeue(): back to its own queue at once as the next attempt, with the reason; acked once handled', async () => {
    const q = queueName('outcome.requeue');
    const mq = await client({ queues: [{ name: q }] });
    const seen: Seen[] = [];
    const consumer = await consume(mq, q, (msg) => {
      record(seen, msg);
      if (msg.attempt < 3) msg.requeue('busy');
    });
    await mq.publishMessage(q, 'job', { headers: { 'x-tenant': 'acme' } });
    await waitFor(() => seen.length === 3, 'three attempts');
    await consumer.stop();
    expect(seen.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(seen[1]!.headers).toMatchObject({
      'x-tenant': 'acme',
      'x-warren-attempt': 2,
      'x-warren-error': 'busy',
      'x-warren-original-exchange': '',
      'x-warren-original-routing-key': q,
    });
    expect(seen[2]!.headers).toMatchObject({ 'x-warren-attempt': 3 });
    expect((await queueInfo(q)).messageCount).toBe(0);
    expect(await drain(deadLetterName(q))).toHaveLength(0);
  });

  it('requeue() counts against the attempts: dead-lettered once they are exhausted (retry.attempts, else the default)', async () => {
    for (const retry of [{ attempts: 3, delayMs: 10 }, undefined]) {
      const q = queueName('outcome.requeue-limit', [10]);
      const mq = await client({ queues: [{ name: q }] });
      const attempts: number[] = [];
      const consumer = await consume(
        mq,
        q,
        (msg) => {
          attempts.push(msg.attempt);
          return Outcome.requeue('never ready');
        },
        retry === undefined ? {} : { retry },
      );
      await mq.publishMessage(q, { id: 1 });
      const limit = retry?.attempts ?? DEFAULT_OUTCOME_ATTEMPTS;
      await waitFor(async () => (await queueInfo(deadLetterName(q))).messageCount === 1, 'the dead letter');
      await consumer.stop();
      expect(attempts).toEqual(Array.from({ length: limit }, (_, i) => i + 1));
      const [dead] = await drain(deadLetterName(q));
      expect(dead!.properties.headers).toMatchObject({
        'x-warren-attempts': limit,
        'x-warren-error': `never ready (requeued on attempt ${limit} of ${limit})`,
        'x-warren-queue': q,
        'x-warren-original-routing-key': q,
      });
      expect(dead!.properties.headers?.['x-warren-attempt']).toBeUndefined();
      expect((await queueInfo(q)).messageCount).toBe(0);
    }
  });

  it('retryLater(ms): through <queue>.retry.<ms>, declared when first needed, as the next attempt', async () => {
    const q = queueName('outcome.retry-later', [150]);
    const mq = await client({ queues: [{ name: q }] });
    const seen: Seen[] = [];
    const consumer = await consume(mq, q, async (msg) => {
      record(seen, msg);
      if (msg.attempt === 1) throw msg.retryLater(150, 'stock not ready');
    });
    await mq.publishMessage(q, 'x');
    await waitFor(() => seen.length === 2, 'the retried delivery');
    await consumer.stop();
    expect(seen.map((s) => s.attempt)).toEqual([1, 2]);
    expect(seen[1]!.headers).toMatchObject({ 'x-warren-attempt': 2, 'x-warren-error': 'stock not ready' });
    // The retry queue exists (declared on demand), empty now, and dead-letters back to the queue.
    expect((await queueInfo(retryQueueName(q, 150))).messageCount).toBe(0);
    expect((await queueInfo(q)).messageCount).toBe(0);
  });

  it('retryLater() without a delay uses the policy delay of the attempt', async () => {
    const q = queueName('outcome.retry-later-policy', [40, 80]);
    const mq = await client({ queues: [{ name: q }] });
    const attempts: number[] = [];
    const consumer = await consume(
      mq,
      q,
      (msg) => {
        attempts.push(msg.attempt);
        if (msg.attempt < 3) return msg.retryLater();
      },
      { retry: { attempts: 3, delayMs: (n) => n * 40 } },
    );
    await mq.publishMessage(q, 'x');
    await waitFor(() => attempts.length === 3, 'three attempts');
    await consumer.stop();
    expect(attempts).toEqual([1, 2, 3]);
    expect((await queueInfo(q)).messageCount).toBe(0);
  });

  it('deadLetter(reason): at once, whatever attempts remain, with the reason', async () => {
    const q = queueName('outcome.dead-letter', [10]);
    const mq = await client({ queues: [{ name: q }] });
    let calls = 0;
    const errors: unknown[] = [];
    const consumer = await consume(
      mq,
      q,
      (msg) => {
        calls++;
        return msg.deadLetter('no sku');
      },
      { json: true, retry: { attempts: 5, delayMs: 10 } },
    );
    consumer.on('error', (e) => errors.push(e));
    await mq.publishMessage(q, { id: 9 }, { headers: { 'x-keep': 'me' } });
    await waitFor(async () => (await queueInfo(deadLetterName(q))).messageCount === 1, 'the dead letter');
    await consumer.stop();
    expect(calls).toBe(1);
    expect(errors).toEqual([]); // a decision, not a failure
    const [dead] = await drain(deadLetterName(q));
    expect(JSON.parse(dead!.body.toString())).toEqual({ id: 9 });
    expect(dead!.properties.headers).toMatchObject({
      'x-keep': 'me',
      'x-warren-error': 'no sku',
      'x-warren-attempts': 1,
      'x-warren-queue': q,
      'x-warren-original-exchange': '',
      'x-warren-original-routing-key': q,
    });
    expect((await queueInfo(q)).messageCount).toBe(0);
  });

  it('drop(reason): acked without a copy anywhere, logged with the reason', async () => {
    const q = queueName('outcome.drop');
    const warnings: unknown[][] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (...args) => warnings.push(args) };
    const mq = await client({ queues: [{ name: q }] }, { logger });
    let calls = 0;
    const consumer = await consume(mq, q, () => {
      calls++;
      throw Outcome.drop('order format v1 is retired');
    });
    await mq.publishMessage(q, 'old', { messageId: 'm-1' });
    await waitFor(() => warnings.some((w) => String(w[1]).includes('dropped')), 'the drop log line');
    await consumer.stop();
    expect(calls).toBe(1);
    const line = warnings.find((w) => String(w[1]).includes('dropped'))!;
    expect(line[0]).toMatchObject({
      queue: q,
      messageId: 'm-1',
      outcome: 'drop',
      reason: 'order format v1 is retired',
    });
    expect(String(line[1])).toContain('order format v1 is retired');
    expect(await queueInfo(q)).toMatchObject({ messageCount: 0, consumerCount: 0 });
    expect(await drain(deadLetterName(q))).toHaveLength(0);
  });

  it('a decision made with a method wins over an error thrown afterwards; a plain throw still follows the policy', async () => {
    const q = queueName('outcome.precedence');
    const mq = await client({ queues: [{ name: q }] });
    const errors: HandlerError[] = [];
    const consumer = await consume(mq, q, (msg) => {
      if (msg.body.toString() === 'decided') {
        msg.deadLetter('decided first');
        throw new Error('then failed');
      }
      throw new Error('plain failure');
    });
    consumer.on('error', (e) => errors.push(e as HandlerError));
    await mq.publishMessage(q, 'decided');
    await mq.publishMessage(q, 'plain');
    await waitFor(async () => (await queueInfo(deadLetterName(q))).messageCount === 2, 'two dead letters');
    await consumer.stop();
    const dead = await drain(deadLetterName(q));
    const byBody = Object.fromEntries(dead.map((m) => [m.body.toString(), m.properties.headers?.['x-warren-error']]));
    expect(byBody).toEqual({ decided: 'decided first', plain: 'plain failure' });
    expect(errors.map((e) => [e.outcome, (e.cause as Error).message])).toEqual([['dead-letter', 'plain failure']]);
  });
});
