/**
 * Consuming a stream queue (`x-queue-type: stream`) over AMQP 0-9-1: where to start (`offset`), where to
 * resume after a reconnect or a lost channel, Bloom-filtered consumption (`filter`) and what a failing
 * handler does on a queue that cannot requeue.
 *
 * What a stream is not: a queue that forgets. A delivery stays in the stream whatever the consumer does;
 * an ack only gives the broker credit for the next one, and a nack or reject makes RabbitMQ close the
 * whole connection (540 NOT_IMPLEMENTED). So on a stream warren only ever acks, and keeps the position
 * itself: every delivery carries its offset (`x-stream-offset` header), the consumer remembers which
 * offsets it processed, and each new subscription (reconnect, lost channel, server-sent cancel) starts at
 * the lowest offset it had received and not finished (or after the highest one it finished): nothing
 * processed is handed to the handler again, nothing is skipped.
 *
 * A failing handler cannot be requeued nor sent through a retry queue (the copy would be appended to the
 * stream, for every reader of it). It is retried in-process: `retry.attempts` calls, `retry.delayMs` apart,
 * then a copy goes to the dead-letter target (default `<queue>.dead`) and the delivery is acked; with
 * `deadLetter: false` it is reported (HandlerError, outcome 'discard') and acked. A copy that cannot be
 * published is reported and read again from the stream on the next subscription.
 * @module
 */
import type { Channel } from '../../connection/channel.js';
import type { FieldTable, FieldValue } from '../../protocol/field-table.js';
import type { ResolvedConfig } from '../config.js';
import type { Entry, SettleKind } from './delivery.js';
import { ConsumerOptionsError } from './errors.js';

/** The consumer argument that says where a stream subscription starts. */
export const STREAM_OFFSET_ARGUMENT = 'x-stream-offset';
/** The header carrying a stream delivery's offset (RabbitMQ sets it). */
export const STREAM_OFFSET_HEADER = 'x-stream-offset';
/** The header a publisher sets for Bloom-filtered consumption: `headers: { 'x-stream-filter-value': 'eu' }`. */
export const STREAM_FILTER_VALUE_HEADER = 'x-stream-filter-value';

/**
 * Where a stream subscription starts: `'first'` (the oldest message kept), `'last'` (the last chunk
 * written), `'next'` (only what is published from now on, RabbitMQ's default), an offset (a number or
 * bigint ≥ 0), or a `Date` (the first chunk written at or after it, whole seconds).
 */
export type StreamOffset = 'first' | 'last' | 'next' | number | bigint | Date;

/** The stream options of {@link consume} (they make the consumer a stream consumer). */
export interface StreamConsumeOptions {
  /**
   * Where to start reading a stream queue: `'first'` (the oldest message kept), `'last'` (the last chunk
   * written), `'next'` (only what is published from now on), an offset (a number or bigint ≥ 0), or a
   * `Date` (the first chunk written at or after it, whole seconds). Default `'next'`. Only the first
   * subscription starts here: after a reconnect the consumer resumes after the last offset it processed.
   * Giving it (or `filter`) makes the consumer a stream consumer, as does a queue of the client's topology
   * with `x-queue-type: stream`. A stream consumer needs an explicit `prefetch`.
   */
  offset?: StreamOffset;
  /**
   * Only messages published with one of these `x-stream-filter-value` headers (RabbitMQ 3.13+ filters
   * chunks with a Bloom filter, which lets some others through; older brokers send everything). warren
   * checks each delivery again: one that does not match is acked and never reaches the handler.
   */
  filter?: string | string[];
  /** With `filter`: messages published without a filter value are delivered too (`x-stream-match-unfiltered`). */
  matchUnfiltered?: boolean;
}

/** Stream settings, checked. @internal */
export interface StreamSettings {
  readonly offset: StreamOffset;
  readonly filter: readonly string[] | undefined;
  readonly matchUnfiltered: boolean;
}

/** True when the client's topology declares `queue` as a stream. */
export function isStreamInConfig(config: ResolvedConfig, queue: string): boolean {
  const q = config.queues.find((c) => c.name === queue);
  return (q?.arguments as FieldTable | undefined)?.['x-queue-type'] === 'stream';
}

/**
 * Checks the stream options of a consumer of `queue`; undefined when it is not a stream consumer.
 * @throws ConsumerOptionsError for an invalid offset or filter, or a stream consumer without `prefetch`.
 */
export function resolveStreamOptions(
  queue: string,
  o: StreamConsumeOptions & { prefetch?: number; arguments?: FieldTable },
  streamQueue: boolean,
): StreamSettings | undefined {
  const fromArguments = o.arguments?.[STREAM_OFFSET_ARGUMENT];
  const stream = streamQueue || o.offset !== undefined || o.filter !== undefined || fromArguments !== undefined;
  if (!stream) return undefined;
  if (o.prefetch === undefined) {
    throw new ConsumerOptionsError(
      `options.prefetch is required to consume the stream queue ${JSON.stringify(queue)}: RabbitMQ refuses a stream consumer without a prefetch (406 PRECONDITION_FAILED)`,
    );
  }
  if (o.offset !== undefined && fromArguments !== undefined) {
    throw new ConsumerOptionsError(
      `options.offset and options.arguments["${STREAM_OFFSET_ARGUMENT}"] both set where to start: give only options.offset`,
    );
  }
  const offset = checkOffset(o.offset ?? (fromArguments as StreamOffset | undefined) ?? 'next');
  let filter: string[] | undefined;
  if (o.filter !== undefined) {
    filter = typeof o.filter === 'string' ? [o.filter] : Array.isArray(o.filter) ? [...o.filter] : [];
    if (filter.length === 0 || filter.some((f) => typeof f !== 'string' || f === '')) {
      throw new ConsumerOptionsError('options.filter must be a non-empty string or a non-empty array of them');
    }
  }
  if (o.matchUnfiltered !== undefined && typeof o.matchUnfiltered !== 'boolean') {
    throw new ConsumerOptionsError('options.matchUnfiltered must be a boolean');
  }
  if (o.matchUnfiltered === true && filter === undefined) {
    throw new ConsumerOptionsError('options.matchUnfiltered only applies with options.filter');
  }
  return { offset, filter, matchUnfiltered: o.matchUnfiltered ?? false };
}

function checkOffset(offset: unknown): StreamOffset {
  if (offset === 'first' || offset === 'last' || offset === 'next') return offset;
  if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return offset;
  if (typeof offset === 'bigint' && offset >= 0n && offset < 2n ** 63n) return offset;
  if (offset instanceof Date && Number.isFinite(offset.getTime())) return offset;
  throw new ConsumerOptionsError(
    `options.offset must be 'first', 'last', 'next', an offset ≥ 0 or a valid Date, got ${String(offset)}`,
  );
}

/** The offset of a stream delivery (its `x-stream-offset` header), undefined when it has none. */
export function offsetOf(headers: FieldTable | undefined): bigint | undefined {
  const raw = headers?.[STREAM_OFFSET_HEADER];
  if (typeof raw === 'bigint') return raw;
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return BigInt(raw);
  return undefined;
}

/** What to do with a stream delivery that just arrived. */
export type Admission =
  /** Hand it to the handler. */
  | 'run'
  /** Already processed (a resubscription read it again) or filtered out: ack it, do not handle it. */
  | 'skip'
  /** The same offset is still being handled from an earlier subscription: held until that one ends. */
  | 'held';

/**
 * The position of a stream consumer: which offsets it received and finished, where the next subscription
 * starts, and which deliveries are duplicates of work already done or under way. @internal
 */
export class StreamCursor {
  /** Received and not finished (handler running, waiting for a slot, or held), with the entry handling it. */
  private readonly outstanding = new Map<bigint, Entry>();
  /** Finished offsets at or above `floor`. Every received offset below `floor` is finished. */
  private readonly finished = new Set<bigint>();
  /** Received, then given up (channel lost before it was processed): read again from the stream. */
  private readonly unprocessed = new Set<bigint>();
  /** Deliveries of an offset that was outstanding when they arrived, by offset. */
  private readonly held = new Map<bigint, Entry>();
  private floor = -1n;
  private highest = -1n;

  constructor(
    readonly settings: StreamSettings,
    /** basic.consume arguments besides the offset and the filter. */
    private readonly base: FieldTable,
    /** Bounds the finished set before it is pruned (prefetch and concurrency, both bounds of outstanding). */
    private readonly window: number,
  ) {}

  /** The offset the next subscription starts at: the configured one until something was received. */
  resumeOffset(): StreamOffset {
    let low: bigint | undefined;
    for (const o of this.outstanding.keys()) if (low === undefined || o < low) low = o;
    for (const o of this.unprocessed) if (low === undefined || o < low) low = o;
    if (low !== undefined) return low;
    return this.highest >= 0n ? this.highest + 1n : this.settings.offset;
  }

  /** The basic.consume arguments of the next subscription. */
  arguments(): FieldTable {
    const args: Record<string, FieldValue> = { ...this.base };
    const offset = this.resumeOffset();
    args[STREAM_OFFSET_ARGUMENT] = typeof offset === 'number' ? BigInt(offset) : offset;
    const f = this.settings.filter;
    if (f !== undefined) {
      args['x-stream-filter'] = f.length === 1 ? f[0]! : [...f];
      if (this.settings.matchUnfiltered) args['x-stream-match-unfiltered'] = true;
    }
    return args;
  }

  /** Whether a delivery's filter value is one the consumer asked for (the Bloom filter lets others through). */
  matches(headers: FieldTable | undefined): boolean {
    const f = this.settings.filter;
    if (f === undefined) return true;
    const value = headers?.[STREAM_FILTER_VALUE_HEADER];
    if (value === undefined || value === null) return this.settings.matchUnfiltered;
    return typeof value === 'string' && f.includes(value);
  }

  /** A delivery arrived: run it, skip it (ack only) or hold it until the same offset's earlier run ends. */
  admit(entry: Entry): Admission {
    const offset = offsetOf(entry.delivery.properties.headers);
    if (offset === undefined) return 'run'; // not a stream delivery after all: nothing to track
    if (offset > this.highest) this.highest = offset;
    if (offset < this.floor || this.finished.has(offset)) return 'skip';
    if (this.outstanding.has(offset)) {
      // One held copy is enough: a further one (a third subscription meanwhile) only gives its credit back.
      if (this.held.has(offset)) return 'skip';
      this.held.set(offset, entry);
      return 'held';
    }
    this.unprocessed.delete(offset);
    if (!this.matches(entry.delivery.properties.headers)) {
      this.finish(offset);
      return 'skip';
    }
    this.outstanding.set(offset, entry);
    return 'run';
  }

  /**
   * `entry` was settled (`kind`, `requeue` as the consumer meant them). What goes on the wire: a stream
   * takes only acks, so everything becomes an ack ('drop' stays: its channel is gone). An ack, or a
   * nack/reject without requeue (dead-lettered or discarded), finishes the offset; a requeue or a drop
   * leaves it to be read again. Returns the entry held for the same offset, if any, with what to do with
   * it: 'skip' (the offset is done) or 'run'.
   */
  settled(entry: Entry, kind: SettleKind, requeue: boolean): { wire: SettleKind; held?: Entry; heldAs?: Admission } {
    const wire: SettleKind = kind === 'drop' ? 'drop' : 'ack';
    const offset = offsetOf(entry.delivery.properties.headers);
    if (offset === undefined || this.outstanding.get(offset) !== entry) return { wire };
    this.outstanding.delete(offset);
    const done = kind === 'ack' || (kind !== 'drop' && !requeue);
    if (done) this.finish(offset);
    const held = this.held.get(offset);
    if (held === undefined) {
      if (!done) this.unprocessed.add(offset);
      return { wire };
    }
    this.held.delete(offset);
    if (done) return { wire, held, heldAs: 'skip' };
    this.outstanding.set(offset, held);
    return { wire, held, heldAs: 'run' };
  }

  private finish(offset: bigint): void {
    this.finished.add(offset);
    if (this.finished.size > 2 * this.window + 16) this.prune();
  }

  /** Forgets finished offsets below the lowest one still open: everything below `floor` is finished. */
  private prune(): void {
    const resume = this.resumeOffset();
    const low = typeof resume === 'bigint' ? resume : this.highest + 1n;
    for (const o of this.finished) if (o < low) this.finished.delete(o);
    if (low > this.floor) this.floor = low;
  }
}

/** Acks a delivery outside the consumer's bookkeeping: a stream delivery that is skipped only gives credit back. */
export function ackCredit(ch: Channel, entry: Entry): void {
  if (entry.settled) return;
  entry.settled = true;
  ch.basicAck(entry.delivery.deliveryTag);
}

/** What {@link retryInProcess} needs from its consumer. @internal */
export interface InProcessRetry {
  readonly attempts: number;
  /** Delay after failed attempt n is delays[n - 1]. */
  readonly delays: readonly number[];
  /** Runs the handler for `attempt`; rejects when it fails. */
  call(attempt: number): Promise<void>;
  /** A failed attempt that is retried. */
  retrying(attempt: number, err: unknown): void;
  /** True once retrying must end (the consumer stops). */
  halted(): boolean;
}

/**
 * Retries a stream delivery whose handler failed on `attempt`: the handler again after each delay, until
 * it succeeds or the attempts run out. Resolves undefined on success, `{ attempt, error }` for the last
 * failure, or 'halted' when the consumer stopped meanwhile (the delivery is then left to be read again).
 */
export async function retryInProcess(
  r: InProcessRetry,
  attempt: number,
  error: unknown,
): Promise<{ attempt: number; error: unknown } | 'halted' | undefined> {
  let n = attempt;
  let last = error;
  while (n < r.attempts) {
    r.retrying(n, last);
    await sleepUnless(r.delays[n - 1] ?? 0, r.halted);
    if (r.halted()) return 'halted';
    n++;
    try {
      await r.call(n);
      return undefined;
    } catch (err) {
      last = err;
    }
  }
  return { attempt: n, error: last };
}

/** Sleeps `ms`, waking early (checked every 100 ms) once `halted()`. */
async function sleepUnless(ms: number, halted: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!halted()) {
    const left = until - Date.now();
    if (left <= 0) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, 100)));
  }
}
