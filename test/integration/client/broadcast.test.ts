/**
 * subscribeBroadcast() against the real broker: each instance gets every event through its own
 * exclusive queue, and gets it back after the broker closes its connection (rabbitmqctl
 * close_connection of this test's own named connections only). Events published while an instance had
 * no queue are lost for it by design; everything published after it re-subscribed reaches it.
 */
import { describe, expect, it } from 'vitest';
import type { AsyncRabbitMQ } from '../../../src/client/async-rabbitmq.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import { rabbitmqctl, uniqueName } from '../../helpers/broker.js';
import { sleep, waitFor } from '../../helpers/wait.js';
import { connectionPid } from '../engine/engine-helpers.js';
import { consumeFixture } from './consume-fixture.js';

const { client, deleteAfter, adminChannelDo } = consumeFixture();

interface Instance {
  mq: AsyncRabbitMQ;
  name: string;
  got: number[];
  queue: string;
}

/** Whether `queue` exists: an exclusive queue of another connection answers a passive declare with 405. */
async function queueExists(queue: string): Promise<boolean> {
  return adminChannelDo((ch) => ch.queueDeclare({ queue, passive: true })).then(
    () => true,
    (err: unknown) => {
      if (err instanceof ChannelError && err.replyCode === 404) return false;
      if (err instanceof ChannelError && err.replyCode === 405) return true;
      throw err;
    },
  );
}

describe('subscribeBroadcast', () => {
  it('two instances each get every event, before and after the broker closes both their connections', async () => {
    const ex = uniqueName('bcast');
    deleteAfter({ exchanges: [ex] });
    const topology = { exchanges: [{ name: ex, type: 'fanout' as const }] };
    const publisher = await client(topology);
    const instances: Instance[] = [];
    for (const label of ['a', 'b']) {
      const name = `${ex}.conn-${label}`;
      const mq = await client(topology, { connectionName: name, reconnect: { baseDelayMs: 50, maxDelayMs: 200 } });
      const got: number[] = [];
      const sub = await mq.subscribeBroadcast<{ seq: number }>(ex, (msg) => void got.push(msg.value.seq), {
        json: true,
        prefetch: 50,
      });
      instances.push({ mq, name, got, queue: sub.queue });
    }
    const [a, b] = instances as [Instance, Instance];
    expect(a.queue).not.toBe(b.queue);
    expect(a.queue.startsWith(`${ex}.`)).toBe(true);

    let next = 0;
    const publish = () => publisher.publishMessage('', { seq: next++ }, { exchange: ex, mandatory: false });
    const N = 50;
    for (let i = 0; i < N; i++) await publish();
    await waitFor(() => a.got.length === N && b.got.length === N, 'phase 1 at both instances');

    // Mid-stream: keep publishing while the broker closes both instances' connections.
    let publishing = true;
    const pump = (async () => {
      while (publishing) {
        await publish();
        await sleep(2);
      }
    })();
    const resubscribedAt = new Map<Instance, number>();
    const reconnected = instances.map(
      (inst) =>
        new Promise<void>((resolve) =>
          inst.mq.once('connected', () => {
            // Everything published from here on must reach it: its queue is declared and bound again.
            resubscribedAt.set(inst, next);
            resolve();
          }),
        ),
    );
    await sleep(100);
    for (const inst of instances) {
      const pid = await connectionPid(inst.name);
      expect(pid, `connection ${inst.name}`).toBeDefined();
      await rabbitmqctl('close_connection', pid!, 'warren broadcast test');
    }
    await Promise.all(reconnected);
    const last = Math.max(...resubscribedAt.values());
    await waitFor(() => next >= last + N, `${N} events after both re-subscribed`);
    publishing = false;
    await pump;
    const total = next;
    for (const inst of instances) {
      const from = resubscribedAt.get(inst)!;
      await waitFor(() => inst.got.includes(total - 1), `the last event at ${inst.name}`);
      const seen = new Set(inst.got);
      expect(seen.size, `no duplicates at ${inst.name}`).toBe(inst.got.length);
      const missingBefore = Array.from({ length: N }, (_, i) => i).filter((s) => !seen.has(s));
      const missingAfter = Array.from({ length: total - from }, (_, i) => from + i).filter((s) => !seen.has(s));
      expect(missingBefore, `phase 1 at ${inst.name}`).toEqual([]);
      expect(missingAfter, `after re-subscribing at ${inst.name}`).toEqual([]);
      expect(total - from).toBeGreaterThanOrEqual(N);
    }
    // The per-instance queues live as long as their connection.
    expect(await queueExists(a.queue)).toBe(true);
    await a.mq.disconnect();
    await b.mq.disconnect();
    await waitFor(async () => !(await queueExists(a.queue)) && !(await queueExists(b.queue)), 'the queues to go');
  });

  it('topic exchanges bind with the given routing keys; stop() removes the queue; retry is refused', async () => {
    const ex = uniqueName('bcast.topic');
    deleteAfter({ exchanges: [ex] });
    const mq = await client({ exchanges: [{ name: ex, type: 'topic' }] });
    const got: string[] = [];
    const sub = await mq.subscribeBroadcast(ex, (msg) => void got.push(msg.fields.routingKey), {
      routingKeys: ['price.*', 'stock.eu'],
      instanceId: 'fixed-id',
    });
    expect(sub.queue).toBe(`${ex}.fixed-id`);
    for (const key of ['price.a', 'stock.us', 'stock.eu', 'other']) {
      await mq.publishMessage(key, 'x', { exchange: ex, mandatory: false });
    }
    await waitFor(() => got.length === 2, 'two matching events');
    await sleep(100);
    expect(got).toEqual(['price.a', 'stock.eu']);
    // retryLater() acts as requeue(): no durable retry queue that would outlive the instance queue.
    const attempts: number[] = [];
    const sub2 = await mq.subscribeBroadcast(
      ex,
      (msg) => {
        attempts.push(msg.attempt);
        if (msg.attempt === 1) return msg.retryLater(60_000, 'later');
      },
      { routingKeys: ['retry.me'] },
    );
    await mq.publishMessage('retry.me', 'x', { exchange: ex, mandatory: false });
    await waitFor(() => attempts.length === 2, 'the requeued attempt');
    expect(attempts).toEqual([1, 2]);
    expect(await queueExists(`${sub2.queue}.retry.60000`)).toBe(false);
    await sub2.stop();
    await sub.stop();
    expect(sub.consumer.state).toBe('stopped');
    await waitFor(async () => !(await queueExists(sub.queue)), 'the queue to be auto-deleted');
    await expect(
      mq.subscribeBroadcast(ex, () => {}, { retry: { attempts: 2, delayMs: 10 } } as never),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
  });
});
