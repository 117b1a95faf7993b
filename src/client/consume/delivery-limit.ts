/**
 * Quorum queues count deliveries: every requeue (a nack with requeue, a channel or connection lost with
 * the message unacked, a stopping consumer giving back what it had not started) adds one to the message's
 * `x-delivery-count` header, and once it passes the queue's `x-delivery-limit` the broker dead-letters the
 * message through the queue's own `x-dead-letter-exchange` — or, without one, DROPS it. RabbitMQ 4 gives
 * every quorum queue a limit of 20, so a message that keeps crashing its consumer (or keeps being nacked)
 * would silently disappear.
 *
 * warren reads `x-delivery-count` on every delivery (never `x-death`, which only the broker's own
 * dead-lettering writes) and, once it reaches the limit minus one, dead-letters the message through its
 * own target (default `<queue>.dead`) without calling the handler: whatever happens to that delivery, one
 * more requeue still leaves the message in the queue, so it is never dropped. warren's own retries
 * (`retry`) publish a copy to a retry queue and ack the original, so they never count toward the limit.
 *
 * The limit: the consumer's `deliveryLimit` option, else the queue's `x-delivery-limit` in the client's
 * topology (`-1`: none), else 20 for a quorum queue on a RabbitMQ 4+ broker (also for a queue not in the
 * topology whose deliveries carry `x-delivery-count`, which only quorum queues set). A policy's
 * `delivery-limit` is not visible to the client: give it as `deliveryLimit`.
 * @module
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { ResolvedConfig } from '../config.js';
import { ConsumerOptionsError } from './errors.js';

/** The header a quorum queue sets on a redelivery: how often the message was returned. */
export const DELIVERY_COUNT_HEADER = 'x-delivery-count';
/** The delivery limit RabbitMQ 4 gives a quorum queue that sets none. */
export const DEFAULT_QUORUM_DELIVERY_LIMIT = 20;

/** The delivery-limit option of {@link consume}. */
export interface DeliveryLimitOptions {
  /**
   * The queue's delivery limit when the client cannot know it (a `delivery-limit` policy), or `false` to
   * never act on `x-delivery-count`. Default: from the topology, else 20 on RabbitMQ 4 quorum queues.
   */
  deliveryLimit?: number | false;
}

/** Checks the `deliveryLimit` option. @internal */
export function checkDeliveryLimitOption(o: DeliveryLimitOptions): number | false | undefined {
  const d = o.deliveryLimit;
  if (d === undefined || d === false) return d;
  if (!Number.isSafeInteger(d) || d < 0) {
    throw new ConsumerOptionsError(`options.deliveryLimit must be an integer ≥ 0 or false, got ${String(d)}`);
  }
  return d;
}

/** How a consumer knows when a delivery is at its queue's limit. `undefined` limit: only with the header. */
export interface DeliveryLimit {
  /** The limit, or 'quorum-default' when it is 20 if (and only if) the deliveries carry `x-delivery-count`. */
  readonly limit: number | 'quorum-default';
}

/** The major version a broker announced in connection.start (`"4.0.5"` → 4), 0 when it announced none. */
export function brokerMajorOf(serverProperties: FieldTable | undefined): number {
  const raw = serverProperties?.version;
  const text = typeof raw === 'string' ? raw : raw instanceof Uint8Array ? Buffer.from(raw).toString() : '';
  const major = Number.parseInt(text, 10);
  return Number.isInteger(major) ? major : 0;
}

/** The delivery limit of `queue` on a broker of version `major`; undefined when it has none. @internal */
export function resolveDeliveryLimit(
  config: ResolvedConfig,
  queue: string,
  major: number,
  option: number | false | undefined,
): DeliveryLimit | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return { limit: option };
  const q = config.queues.find((c) => c.name === queue);
  const args = q?.arguments as FieldTable | undefined;
  const configured = args?.['x-delivery-limit'];
  if (typeof configured === 'number' || typeof configured === 'bigint') {
    const n = Number(configured);
    return n < 0 ? undefined : { limit: n };
  }
  if (major < 4) return undefined;
  if (q === undefined) return { limit: 'quorum-default' };
  return args?.['x-queue-type'] === 'quorum' ? { limit: DEFAULT_QUORUM_DELIVERY_LIMIT } : undefined;
}

/** A delivery's `x-delivery-count` (0 when absent: its first delivery). */
export function deliveryCountOf(headers: FieldTable | undefined): number | undefined {
  const raw = headers?.[DELIVERY_COUNT_HEADER];
  if (typeof raw === 'bigint') return Number(raw);
  if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
  return undefined;
}

/**
 * When a delivery is this close to its queue's limit that it must not be held (one more requeue would leave
 * it a last delivery that any loss drops): its count and the limit; otherwise undefined.
 */
export function atDeliveryLimit(
  limit: DeliveryLimit | undefined,
  headers: FieldTable | undefined,
): { count: number; limit: number } | undefined {
  if (limit === undefined) return undefined;
  const count = deliveryCountOf(headers);
  if (count === undefined || count < 1) return undefined;
  const n = limit.limit === 'quorum-default' ? DEFAULT_QUORUM_DELIVERY_LIMIT : limit.limit;
  return count >= n - 1 ? { count, limit: n } : undefined;
}
