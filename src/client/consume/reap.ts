/**
 * {@link reapQueue}: deletes a queue only when nothing consumes it (and, unless told otherwise, nothing
 * is left in it), also for quorum and stream queues, which refuse `queue.delete` with `if-unused` — and
 * refuse it with a *connection* error (540 NOT_IMPLEMENTED), which would take the client's connection
 * down with every consumer on it. So `if-unused` / `if-empty` are sent only for queues known to be
 * classic; for the others the check is a passive declare on a scratch channel, then a plain delete.
 *
 * The race, and how it is handled: between the passive declare and the delete (one round trip) a
 * consumer may subscribe or a message may arrive.
 * - Classic queues: the delete carries `if-unused` and `if-empty`, so the broker itself refuses it
 *   (406) when either happened: the result says `in-use` / `not-empty` and the queue stays.
 * - Quorum / stream / unknown type: the broker deletes the queue anyway; a consumer that subscribed in
 *   the window is cancelled (a warren consumer whose queue is in its client's topology declares it again
 *   and subscribes again), and messages that arrived are gone — the result's `deletedMessages` counts
 *   them, so a caller can tell. Unbind the queue first (nothing can arrive then) and stop its consumers:
 *   the migration recipe in the README does both.
 * @module
 */
import type { Channel } from '../../connection/channel.js';
import { ChannelError } from '../../protocol/errors.js';
import { ClientClosedError } from '../errors.js';
import type { ConsumerHost } from './consumer.js';
import { ConsumerOptionsError } from './errors.js';

/** Options of {@link reapQueue}. */
export interface ReapOptions {
  /** Delete it even when it holds ready messages (they are lost). Default false. */
  discardMessages?: boolean;
  /**
   * The queue's type, when it is not in the client's topology: `classic` makes the check atomic (see the
   * module documentation). Default: from the topology's `x-queue-type`, else unknown (treated as non-classic).
   */
  queueType?: 'classic' | 'quorum' | 'stream';
}

/** What {@link reapQueue} did. */
export interface ReapResult {
  /** The queue asked about. */
  readonly queue: string;
  /** True when the queue was deleted. */
  readonly deleted: boolean;
  /** Why it was not deleted: it does not exist, something consumes it, or it holds messages. */
  readonly reason?: 'missing' | 'in-use' | 'not-empty';
  /** From the passive declare: consumers and ready messages it had when checked. */
  readonly consumerCount: number;
  /** Ready messages it had when checked. */
  readonly messageCount: number;
  /** Messages the delete removed (0 unless the race above was lost, or `discardMessages`). */
  readonly deletedMessages: number;
}

/**
 * Deletes `queue` if it has no consumers (and no messages, unless `discardMessages`). Never throws for
 * a queue that is missing, in use or not empty: the result says so.
 *
 * @throws ClientClosedError when the client is not connected.
 * @example
 * ```ts
 * const r = await mq.reapQueue('orders.created');
 * if (!r.deleted) log.info(`kept ${r.queue}: ${r.reason}`);
 * ```
 */
export async function reapQueue(mq: ConsumerHost, queue: string, options: ReapOptions = {}): Promise<ReapResult> {
  if (typeof queue !== 'string' || queue === '') {
    throw new ConsumerOptionsError('reapQueue: queue must be a non-empty string');
  }
  const session = mq.session;
  const live =
    session.current ??
    (await session.ready().catch((err: unknown) => {
      throw new ClientClosedError('reapQueue: the client is not connected: call connect() first', err);
    }));
  const configured = session.config.queues.find((q) => q.name === queue)?.arguments?.['x-queue-type'];
  const type = options.queueType ?? (typeof configured === 'string' ? configured : undefined);
  const classic = type === 'classic';
  const discard = options.discardMessages === true;
  const conn = live.conn;
  const withChannel = async <R>(fn: (ch: Channel) => Promise<R>): Promise<R> => {
    const ch = await conn.createChannel();
    try {
      return await fn(ch);
    } finally {
      if (ch.isOpen) await ch.close().catch(() => {});
    }
  };
  const check = (): Promise<{ consumerCount: number; messageCount: number } | undefined> =>
    withChannel((ch) => ch.queueDeclare({ queue, passive: true })).catch((err: unknown) => {
      if (err instanceof ChannelError && err.replyCode === 404) return undefined;
      throw err;
    });
  const before = await check();
  if (before === undefined) return result(queue, false, 'missing', 0, 0, 0);
  const { consumerCount, messageCount } = before;
  if (consumerCount > 0) return result(queue, false, 'in-use', consumerCount, messageCount, 0);
  if (messageCount > 0 && !discard) return result(queue, false, 'not-empty', consumerCount, messageCount, 0);
  try {
    const ok = await withChannel((ch) =>
      ch.queueDelete(classic ? { queue, ifUnused: true, ifEmpty: !discard } : { queue }),
    );
    return result(queue, true, undefined, consumerCount, messageCount, ok.messageCount);
  } catch (err) {
    if (!(err instanceof ChannelError)) throw err;
    if (err.replyCode === 404) return result(queue, false, 'missing', consumerCount, messageCount, 0);
    if (err.replyCode !== 406 || !classic) throw err;
    // The race was lost and the broker refused: say why, from a fresh look.
    const now = await check();
    if (now === undefined) return result(queue, false, 'missing', 0, 0, 0);
    const reason = now.consumerCount > 0 ? 'in-use' : 'not-empty';
    return result(queue, false, reason, now.consumerCount, now.messageCount, 0);
  }
}

function result(
  queue: string,
  deleted: boolean,
  reason: ReapResult['reason'],
  consumerCount: number,
  messageCount: number,
  deletedMessages: number,
): ReapResult {
  return reason === undefined
    ? { queue, deleted, consumerCount, messageCount, deletedMessages }
    : { queue, deleted, reason, consumerCount, messageCount, deletedMessages };
}
