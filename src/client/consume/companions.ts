/**
 * What a consumer declares for itself: its retry queues and default dead-letter target, and — after a
 * server-sent cancel — its queue again, as the client's topology describes it.
 * @module
 */
import type { Channel } from '../../connection/channel.js';
import type { Connection } from '../../connection/connection.js';
import type { FieldTable } from '../../protocol/field-table.js';
import type { ResolvedConfig } from '../config.js';
import { deadLetterName, type ResolvedOptions, retryQueueName } from './options.js';

/** Declares the retry queues and the default dead-letter exchange/queue of `queue`, on a channel of its own. */
export async function declareCompanions(conn: Connection, queue: string, o: ResolvedOptions<unknown>): Promise<void> {
  const retryDelays = [...new Set(o.delays)];
  const dead = o.deadLetter !== false && o.deadLetter.declare;
  if (retryDelays.length === 0 && !dead) return;
  const ch = await conn.createChannel();
  try {
    for (const delay of retryDelays) await declareRetryQueueOn(ch, queue, delay);
    if (dead) {
      const name = deadLetterName(queue);
      await ch.exchangeDeclare({ exchange: name, type: 'fanout', durable: true });
      await ch.queueDeclare({ queue: name, durable: true });
      await ch.queueBind({ queue: name, exchange: name, routingKey: '' });
    }
  } finally {
    await ch.close().catch(() => {});
  }
}

/** Declares the retry queue of `queue` for `delay` ms, on a channel of its own (a `retryLater` delay outside the policy). */
export async function declareRetryQueue(conn: Connection, queue: string, delay: number): Promise<void> {
  const ch = await conn.createChannel();
  try {
    await declareRetryQueueOn(ch, queue, delay);
  } finally {
    await ch.close().catch(() => {});
  }
}

function declareRetryQueueOn(ch: Channel, queue: string, delay: number): Promise<unknown> {
  return ch.queueDeclare({
    queue: retryQueueName(queue, delay),
    durable: true,
    arguments: { 'x-message-ttl': delay, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': queue },
  });
}

/** Declares `queue` (and its bindings) as `config` describes it, or checks that it exists. */
export async function redeclareQueue(ch: Channel, queue: string, config: ResolvedConfig): Promise<void> {
  const q = config.queues.find((c) => c.name === queue);
  if (q === undefined) {
    await ch.queueDeclare({ queue, passive: true });
    return;
  }
  await ch.queueDeclare({
    queue: q.name,
    durable: q.durable,
    autoDelete: q.autoDelete,
    exclusive: q.exclusive,
    arguments: q.arguments as FieldTable,
  });
  if (q.exchange !== undefined) {
    await ch.queueBind({ queue: q.name, exchange: q.exchange, routingKey: q.routingKey ?? q.name });
  }
  for (const b of config.bindings) {
    if (b.destinationType === 'queue' && b.destination === q.name) {
      await ch.queueBind({
        queue: q.name,
        exchange: b.source,
        routingKey: b.routingKey,
        arguments: b.arguments as FieldTable,
      });
    }
  }
}
