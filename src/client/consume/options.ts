/**
 * The options of {@link consume}: their types, their defaults and the checks that run before anything is
 * sent to the broker, plus the names of the queues a consumer declares for itself.
 * @module
 */
import type { FieldTable } from '../../protocol/field-table.js';
import { checkDeliveryLimitOption, type DeliveryLimitOptions } from './delivery-limit.js';
import { ConsumerOptionsError } from './errors.js';
import { isSchema, type Schema } from './schema.js';
import type { StreamConsumeOptions } from './stream.js';

/** Default `prefetch` of {@link consume}: one unacknowledged message at a time, as in the original module. */
export const DEFAULT_PREFETCH = 1;

/** How failed messages are retried: by the broker, through TTL'd retry queues. */
export interface RetryPolicy {
  /** Total attempts, the first delivery included (≥ 1). `1` means no retry. */
  attempts: number;
  /**
   * Delay before attempt `n + 1` after attempt `n` failed, in ms: a number, or a function of the failed
   * attempt (1-based). The function is called once per attempt number when the consumer starts (it must
   * be deterministic): each distinct delay gets its own retry queue `<queue>.retry.<delayMs>`.
   */
  delayMs: number | ((attempt: number) => number);
}

/** Where messages go when their attempts are exhausted or their payload cannot be decoded. */
export interface DeadLetterTarget {
  /** The exchange to publish to (not declared by the consumer: it must exist). `''` is the default exchange. */
  exchange: string;
  /** Default: the message's original routing key. */
  routingKey?: string;
}

/** Options of {@link consume}. */
export interface ConsumeOptions<T = unknown> extends StreamConsumeOptions, DeliveryLimitOptions {
  /** Unacknowledged messages the broker may send ahead (basic.qos per consumer), 1..65535. Default {@link DEFAULT_PREFETCH} (1). */
  prefetch?: number;
  /** Handlers running at once. Default: `prefetch`. Deliveries beyond it wait, unstarted, in memory. */
  concurrency?: number;
  /** Parse the body as JSON into `msg.value`. Implied by `schema`. */
  json?: boolean;
  /** Validates the parsed JSON (a Standard Schema: zod, valibot, arktype...; or `safeParse` / `parse`); `msg.value` is its output. */
  schema?: Schema<T>;
  /** Retry failed messages through retry queues. Default: no retry (1 attempt). */
  retry?: RetryPolicy;
  /**
   * Where exhausted or undecodable messages go. Default: the exchange `<queue>.dead` (fanout) bound to the
   * queue `<queue>.dead`, both declared automatically (for a queue named `amq.*`, which cannot have such
   * companions, the default is `false`). `false`: nack without requeue, so the queue's own
   * `x-dead-letter-exchange` applies if it has one, and the message is dropped otherwise.
   */
  deadLetter?: DeadLetterTarget | false;
  /** Exclusive consumer (basic.consume exclusive): the broker refuses other consumers on the queue. */
  exclusive?: boolean;
  /** Consumer priority (`x-priority` argument). */
  priority?: number;
  /** Consumer tag; default: chosen by the broker. */
  consumerTag?: string;
  /** basic.consume arguments. For a stream queue use `offset` rather than `x-stream-offset`. */
  arguments?: FieldTable;
  /**
   * How long the broker lets a delivery go unacknowledged before it ends the subscription (the
   * `x-consumer-timeout` consumer argument; the queue's own `x-consumer-timeout` and the broker's
   * `consumer_timeout` apply otherwise). RabbitMQ 4.0 ignores it as a consumer argument. See the
   * consumer's `'interrupted'` event.
   */
  consumerTimeoutMs?: number;
  /** A handler that has not settled after this many ms counts as failed ({@link HandlerTimeoutError}). Default: none. */
  handlerTimeoutMs?: number;
  /**
   * Manual acknowledgement: the handler settles with `msg.ack()`, `msg.nack()` or `msg.reject()`. A handler
   * that throws without having settled still goes through the retry / dead-letter policy.
   */
  manual?: boolean;
}

/** {@link ConsumeOptions} checked, with every default filled in. @internal */
export interface ResolvedOptions<T> {
  prefetch: number;
  concurrency: number;
  json: boolean;
  schema: Schema<T> | undefined;
  attempts: number;
  /** Delay after failed attempt n is delays[n - 1]. */
  delays: number[];
  deadLetter: { exchange: string; routingKey: string | undefined; declare: boolean } | false;
  exclusive: boolean;
  consumerTag: string | undefined;
  consumeArguments: FieldTable;
  handlerTimeoutMs: number | undefined;
  manual: boolean;
  deliveryLimit: number | false | undefined;
}

/** The name of the retry queue for `queue` and a delay: `<queue>.retry.<delayMs>`. */
export function retryQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}`;
}

/** The name of the default dead-letter exchange and queue of `queue`: `<queue>.dead`. */
export function deadLetterName(queue: string): string {
  return `${queue}.dead`;
}

/** Checks the options of {@link consume} and fills in the defaults. @internal */
export function resolveOptions<T>(queue: string, handler: unknown, o: ConsumeOptions<T>): ResolvedOptions<T> {
  if (typeof queue !== 'string' || queue === '') throw new ConsumerOptionsError('queue must be a non-empty string');
  if (typeof handler !== 'function') throw new ConsumerOptionsError('handler must be a function');
  if (o === null || typeof o !== 'object') throw new ConsumerOptionsError('options must be an object');
  const prefetch = o.prefetch ?? DEFAULT_PREFETCH;
  if (!Number.isInteger(prefetch) || prefetch < 1 || prefetch > 65535) {
    throw new ConsumerOptionsError(`options.prefetch must be an integer 1..65535, got ${String(prefetch)}`);
  }
  const concurrency = o.concurrency ?? prefetch;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConsumerOptionsError(`options.concurrency must be a positive integer, got ${String(concurrency)}`);
  }
  const schema = o.schema;
  if (schema !== undefined && !isSchema(schema)) {
    throw new ConsumerOptionsError(
      "options.schema must be a Standard Schema (a '~standard' property) or have a safeParse(value) or parse(value) method",
    );
  }
  const amqPrefixed = queue.startsWith('amq.');
  let attempts = 1;
  const delays: number[] = [];
  if (o.retry !== undefined) {
    const r = o.retry;
    if (r === null || typeof r !== 'object')
      throw new ConsumerOptionsError('options.retry must be { attempts, delayMs }');
    attempts = r.attempts;
    if (!Number.isInteger(attempts) || attempts < 1) {
      throw new ConsumerOptionsError(`options.retry.attempts must be a positive integer, got ${String(attempts)}`);
    }
    if (typeof r.delayMs !== 'number' && typeof r.delayMs !== 'function') {
      throw new ConsumerOptionsError('options.retry.delayMs must be a number or a function of the attempt');
    }
    for (let n = 1; n < attempts; n++) {
      const delay = typeof r.delayMs === 'function' ? r.delayMs(n) : r.delayMs;
      if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0 || delay > 0x7fffffff) {
        throw new ConsumerOptionsError(
          `options.retry.delayMs gave ${String(delay)} for attempt ${n}: must be 0..2147483647 ms`,
        );
      }
      delays.push(Math.round(delay));
    }
    if (amqPrefixed && attempts > 1) {
      throw new ConsumerOptionsError(
        `options.retry: queue ${JSON.stringify(queue)} is named amq.*, so it cannot have retry queues`,
      );
    }
  }
  let deadLetter: ResolvedOptions<T>['deadLetter'];
  if (o.deadLetter === false) deadLetter = false;
  else if (o.deadLetter === undefined) {
    deadLetter = amqPrefixed ? false : { exchange: deadLetterName(queue), routingKey: undefined, declare: true };
  } else {
    const dl = o.deadLetter;
    if (dl === null || typeof dl !== 'object' || typeof dl.exchange !== 'string') {
      throw new ConsumerOptionsError('options.deadLetter must be false or { exchange: string, routingKey?: string }');
    }
    if (dl.routingKey !== undefined && typeof dl.routingKey !== 'string') {
      throw new ConsumerOptionsError('options.deadLetter.routingKey must be a string');
    }
    deadLetter = { exchange: dl.exchange, routingKey: dl.routingKey, declare: false };
  }
  const t = o.handlerTimeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 0x7fffffff)) {
    throw new ConsumerOptionsError(`options.handlerTimeoutMs must be a positive number of ms, got ${String(t)}`);
  }
  const consumeArguments: FieldTable = { ...(o.arguments ?? {}) };
  if (o.priority !== undefined) {
    if (!Number.isInteger(o.priority) || o.priority < -0x80000000 || o.priority > 0x7fffffff) {
      throw new ConsumerOptionsError(`options.priority must be a 32-bit integer, got ${String(o.priority)}`);
    }
    consumeArguments['x-priority'] = o.priority;
  }
  const ct = o.consumerTimeoutMs;
  if (ct !== undefined) {
    if (!Number.isSafeInteger(ct) || ct <= 0 || ct > 0x7fffffff) {
      throw new ConsumerOptionsError(`options.consumerTimeoutMs must be a positive integer of ms, got ${String(ct)}`);
    }
    consumeArguments['x-consumer-timeout'] = ct;
  }
  if (o.consumerTag !== undefined && typeof o.consumerTag !== 'string') {
    throw new ConsumerOptionsError('options.consumerTag must be a string');
  }
  return {
    prefetch,
    concurrency,
    json: o.json === true || schema !== undefined,
    schema,
    attempts,
    delays,
    deadLetter,
    exclusive: o.exclusive ?? false,
    consumerTag: o.consumerTag,
    consumeArguments,
    handlerTimeoutMs: t,
    manual: o.manual ?? false,
    deliveryLimit: checkDeliveryLimitOption(o),
  };
}
