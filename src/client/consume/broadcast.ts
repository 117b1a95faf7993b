/**
 * Broadcast subscriptions: every instance of a service gets every event. {@link subscribeBroadcast}
 * gives each client its own queue `<exchange>.<instanceId>` (exclusive, auto-delete: it lives as long
 * as the connection and the subscription), binds it to the exchange, and consumes it.
 *
 * The queue belongs to one connection, so after a reconnect it is gone: the subscription joins the
 * client's session as a participant placed before its consumer, so that with every generation the queue
 * is declared and bound again before the consumer subscribes (the session attaches participants in the
 * order they joined, and calls the client ready only once both are done). Events published while an
 * instance had no queue (between the loss of its connection and its next `connected` event) are not
 * routed to it: that is what a broadcast is; use a durable queue per instance when they must not be lost.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from '../../connection/connection.js';
import { ChannelError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import { sleep } from '../session/deadline.js';
import type { Session } from '../session/types.js';
import { type ConsumeHandler, type Consumer, type ConsumerHost, consume, type StopOptions } from './consumer.js';
import { ConsumerOptionsError } from './errors.js';
import { Outcome } from './handler-outcome.js';
import type { ConsumeMessage } from './message.js';
import type { ConsumeOptions } from './options.js';

/** Options of {@link subscribeBroadcast}. */
export interface BroadcastOptions<T = unknown> extends Omit<ConsumeOptions<T>, 'retry' | 'exclusive' | 'deadLetter'> {
  /**
   * Binding keys. Default `['#']`: everything on a fanout exchange (which ignores keys) or a topic
   * exchange; a direct exchange needs the keys it should receive.
   */
  routingKeys?: string[];
  /** Binding arguments (a headers exchange's `x-match`...). */
  bindArguments?: FieldTable;
  /**
   * Names this instance's queue `<exchange>.<instanceId>`. Default: random, one per client — so a second
   * subscription of the same client to the same exchange needs an id of its own.
   */
  instanceId?: string;
  /**
   * Where messages the handler dead-letters go. Default `false` (nacked, dropped): a per-instance
   * dead-letter queue would outlive the instance. A `retry` policy is refused for the same reason, and
   * `retryLater()` acts as `requeue()` (no delay: its retry queue would outlive the instance too).
   */
  deadLetter?: ConsumeOptions<T>['deadLetter'];
}

/** A running broadcast subscription. */
export interface BroadcastSubscription<T = unknown> {
  /** This instance's queue: `<exchange>.<instanceId>`. */
  readonly queue: string;
  /** The consumer of the queue (its state, `'error'` events, in-flight count). */
  readonly consumer: Consumer<T>;
  /** Stops consuming; the broker deletes the queue (auto-delete) once the consumer is cancelled. */
  stop(options?: StopOptions): Promise<void>;
}

const instanceIds = new WeakMap<Session, string>();
/**
 * How often a declare refused with 405 is tried again at once (≈ 3 s): the broker has not yet noticed
 * that this instance's previous connection is dead, and that connection still owns the queue. After
 * that the client is called ready without it, and the declare goes on in the background (every second,
 * for as long as the connection lives) while the consumer retries its subscription with its own backoff.
 */
const LOCKED_RETRIES = 6;

/** The instance id of a client (random, made on first use): the suffix of its broadcast queues. */
export function instanceIdOf(mq: ConsumerHost): string {
  let id = instanceIds.get(mq.session);
  if (id === undefined) {
    id = randomBytes(6).toString('hex');
    instanceIds.set(mq.session, id);
  }
  return id;
}

/**
 * Subscribes this client to every message of `exchange` (see the module documentation): resolves once
 * its queue is declared, bound and consumed (or, when not connected yet, once registered).
 *
 * @throws ConsumerOptionsError for invalid options (a `retry` policy among them).
 * @throws ChannelError when the broker refuses (404: no such exchange).
 *
 * @example
 * ```ts
 * const sub = await subscribeBroadcast<CacheEvent>(mq, 'cache.invalidate', async (msg) => {
 *   cache.delete(msg.value.key);
 * }, { json: true });
 * console.log(sub.queue); // cache.invalidate.3f9a0c1d2e4b
 * await sub.stop();
 * ```
 */
export async function subscribeBroadcast<T = unknown>(
  mq: ConsumerHost,
  exchange: string,
  handler: ConsumeHandler<T>,
  options: BroadcastOptions<T> = {},
): Promise<BroadcastSubscription<T>> {
  if (typeof exchange !== 'string' || exchange === '') {
    throw new ConsumerOptionsError('subscribeBroadcast: exchange must be a non-empty string');
  }
  const { routingKeys = ['#'], bindArguments, instanceId = instanceIdOf(mq), ...rest } = options;
  if ((rest as ConsumeOptions<T>).retry !== undefined) {
    throw new ConsumerOptionsError(
      'subscribeBroadcast: options.retry is not available: retry queues are durable and would outlive the instance queue',
    );
  }
  if (!Array.isArray(routingKeys) || routingKeys.length === 0 || routingKeys.some((k) => typeof k !== 'string')) {
    throw new ConsumerOptionsError('subscribeBroadcast: options.routingKeys must be a non-empty array of strings');
  }
  if (typeof instanceId !== 'string' || instanceId === '') {
    throw new ConsumerOptionsError('subscribeBroadcast: options.instanceId must be a non-empty string');
  }
  const queue = `${exchange}.${instanceId}`;
  const session = mq.session;
  const declareOnce = async (conn: Connection): Promise<void> => {
    const ch = await conn.createChannel();
    try {
      await ch.queueDeclare({ queue, exclusive: true, autoDelete: true, durable: false });
      for (const routingKey of routingKeys) {
        await ch.queueBind({ queue, exchange, routingKey, arguments: bindArguments });
      }
    } finally {
      if (ch.isOpen) await ch.close().catch(() => {});
    }
  };
  const declare = async (conn: Connection): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await declareOnce(conn);
        return;
      } catch (err) {
        // 405: the broker has not yet removed the queue of this instance's previous (lost) connection.
        const locked = err instanceof ChannelError && err.replyCode === 405;
        if (!locked || attempt >= LOCKED_RETRIES || !conn.isOpen) throw err;
        await sleep(Math.min(50 * 2 ** attempt, 1000));
      }
    }
  };
  let active = true;
  /** After a failed attach: keep trying on this connection, so that the consumer's own retries find the queue. */
  const keepTrying = async (conn: Connection): Promise<void> => {
    while (active && conn.isOpen) {
      await sleep(1000);
      if (!active || !conn.isOpen) return;
      try {
        await declareOnce(conn);
        return;
      } catch {
        // tried again in a second, as long as the connection lives
      }
    }
  };
  const queueParticipant = {
    attach: (conn: Connection) =>
      declare(conn).catch((err: unknown) => {
        void keepTrying(conn);
        throw err;
      }),
    detach: () => {},
    stop: async () => {},
  };
  try {
    await session.join(queueParticipant);
  } catch (err) {
    active = false;
    session.leave(queueParticipant);
    throw err;
  }
  let consumer: Consumer<T>;
  try {
    consumer = await consume<T>(mq, queue, withoutRetryQueues(handler), {
      deadLetter: false,
      ...rest,
      exclusive: true,
    });
  } catch (err) {
    active = false;
    session.leave(queueParticipant);
    throw err;
  }
  consumer.on('stopped', () => {
    active = false;
    session.leave(queueParticipant);
  });
  return { queue, consumer, stop: (o) => consumer.stop(o) };
}

/**
 * `retryLater` in a broadcast handler becomes `requeue` (the delay is not kept): its retry queue would be
 * durable and dead-letter into a queue that goes with the instance.
 */
function withoutRetryQueues<T>(handler: ConsumeHandler<T>): ConsumeHandler<T> {
  const swap = (r: unknown): unknown =>
    r instanceof Outcome && r.kind === 'retry-later' ? Outcome.requeue(r.reason) : r;
  return async (msg) => {
    const view: ConsumeMessage<T> = Object.create(msg, {
      retryLater: { value: (_delayMs?: number, reason?: string) => msg.requeue(reason) },
    });
    try {
      return swap(await handler(view));
    } catch (err) {
      throw swap(err);
    }
  };
}
