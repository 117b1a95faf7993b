/**
 * Consuming as a loop: {@link messages} turns a consumer into an async iterator, with the same outcome
 * policy as {@link consume} (it is one underneath: retry queues, dead-letter target, explicit outcomes).
 *
 * Each message the loop pulls is held by a handler of that consumer which waits for the loop:
 *
 * - pulling the next message (the loop body completed) or `msg.ack()` → the handler resolves → ack;
 * - `msg.requeue()`, `msg.retryLater()`, `msg.deadLetter()`, `msg.drop()` → that outcome;
 * - leaving the loop (`break`, `return` or a throw: JavaScript tells an iterator neither apart, it calls
 *   `return()` for all three) with the current message not settled → a handler failure
 *   ({@link LoopExitedError}): the retry policy applies, then the dead-letter target. So call `msg.ack()`
 *   before a `break` that should keep the message;
 * - messages the broker sent ahead (at most `prefetch`) that the loop never pulled → given back to the
 *   queue untouched (nack + requeue; not an attempt);
 * - `signal` aborted → the consumer stops: nothing new is pulled, what was sent ahead is given back, the
 *   current message is acked when the loop body completes (the loop then ends).
 *
 * The loop's exit resolves only once all of that is settled with the broker and the consumer stopped.
 * @module
 */

import { WarrenError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import type { BasicProperties } from '../../protocol/spec.js';
import { type Consumer, type ConsumerHost, consume } from './consumer.js';
import type { Message } from './delivery.js';
import { ConsumerCancelledError, ConsumerOptionsError } from './errors.js';
import { type Outcome, RELEASE } from './handler-outcome.js';
import type { ConsumeMessage, MessageFields } from './message.js';
import type { ConsumeOptions } from './options.js';

/** Options of {@link messages}: those of {@link consume} (without `concurrency` and `manual`), plus `signal`. */
export interface MessagesOptions<T = unknown> extends Omit<ConsumeOptions<T>, 'concurrency' | 'manual'> {
  /** Aborting stops the consumer and ends the loop (after the current message's body completes). */
  signal?: AbortSignal;
}

/**
 * The loop was left (`break`, `return`, a throw) before the current message was acked: it goes through
 * the retry policy like a failed handler. Code `ERR_LOOP_EXITED`.
 */
export class LoopExitedError extends WarrenError {
  static override readonly kind: string = 'LoopExitedError';
  constructor(queue: string) {
    super(
      `the loop over queue ${JSON.stringify(queue)} was left (break, return or throw) before the message was acked; call msg.ack() before a break that keeps it`,
      { code: 'ERR_LOOP_EXITED', recoverable: true },
    );
  }
}

/** A message pulled by the loop, and the handler waiting for the loop's decision about it. */
interface Slot<T> {
  readonly inner: ConsumeMessage<T>;
  readonly msg: LoopMessage<T>;
  settled: boolean;
  /** Ends the handler: `undefined` → ack; anything else is thrown (an outcome, RELEASE, an error). */
  finish(result: unknown): void;
}

/** The message object of a loop: ack() and the outcomes end its handler. */
class LoopMessage<T> implements ConsumeMessage<T> {
  constructor(private readonly slot: Slot<T>) {}
  private get m(): ConsumeMessage<T> {
    return this.slot.inner;
  }
  get queue(): string {
    return this.m.queue;
  }
  get body(): Buffer {
    return this.m.body;
  }
  get value(): T {
    return this.m.value;
  }
  get properties(): BasicProperties {
    return this.m.properties;
  }
  get headers(): FieldTable {
    return this.m.headers;
  }
  get fields(): MessageFields {
    return this.m.fields;
  }
  get attempt(): number {
    return this.m.attempt;
  }
  /** Acks now (without waiting for the next pull). False when already settled or its channel is gone. */
  ack(): boolean {
    const live = !this.slot.settled && (this.m as Partial<Message<T>>).live !== false;
    settle(this.slot, undefined);
    return live;
  }
  /** `requeue: true` (default): given back to the queue untouched, not an attempt. `false`: as {@link reject}. */
  nack(options: { requeue?: boolean } = {}): boolean {
    if (options.requeue === false) return this.reject();
    const live = !this.slot.settled && (this.m as Partial<Message<T>>).live !== false;
    settle(this.slot, RELEASE);
    return live;
  }
  /** Dead-letters the message (reason "rejected"); `requeue: true` gives it back as {@link nack} does. */
  reject(options: { requeue?: boolean } = {}): boolean {
    if (options.requeue === true) return this.nack();
    const live = !this.slot.settled && (this.m as Partial<Message<T>>).live !== false;
    this.deadLetter('rejected');
    return live;
  }
  requeue(reason?: string): Outcome {
    return this.decide(this.m.requeue(reason));
  }
  retryLater(delayMs?: number, reason?: string): Outcome {
    return this.decide(this.m.retryLater(delayMs, reason));
  }
  deadLetter(reason: string): Outcome {
    return this.decide(this.m.deadLetter(reason));
  }
  drop(reason: string): Outcome {
    return this.decide(this.m.drop(reason));
  }
  private decide(outcome: Outcome): Outcome {
    settle(this.slot, outcome);
    return outcome;
  }
}

function settle(slot: Slot<unknown>, result: unknown): void {
  if (slot.settled) return;
  slot.settled = true;
  slot.finish(result);
}

/**
 * The async iterator {@link messages} returns; single use. `consumer` is the consumer underneath once
 * the first message was asked for (its `'error'` events go to the client's `'error'` event / logger).
 */
export class MessageStream<T = unknown> implements AsyncIterableIterator<ConsumeMessage<T>> {
  private readonly buffer: Slot<T>[] = [];
  private current: Slot<T> | undefined;
  private waiter: ((r: IteratorResult<ConsumeMessage<T>>) => void) | undefined;
  private started: Promise<void> | undefined;
  private sub: Consumer<T> | undefined;
  private ended = false;
  /** end() ran (it is re-entered through the consumer's 'stopping' event). */
  private ending = false;
  private failure: unknown;
  private stopped: Promise<void> | undefined;
  /** next() calls run one after the other (a for-await never overlaps them; manual callers might). */
  private chain: Promise<unknown> = Promise.resolve();
  private readonly onAbort = (): void => {
    this.end();
  };

  /** @internal Use {@link messages}. */
  constructor(
    private readonly host: ConsumerHost,
    private readonly queue: string,
    private readonly options: MessagesOptions<T>,
  ) {
    const { signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ConsumerOptionsError('messages: options.signal must be an AbortSignal');
    }
    if (signal?.aborted) this.ended = true;
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The consumer underneath (undefined until the loop asked for its first message). */
  get consumer(): Consumer<T> | undefined {
    return this.sub;
  }

  /** The stream itself: it is single use. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Acks the current message (the loop body completed) and waits for the next one. */
  next(): Promise<IteratorResult<ConsumeMessage<T>>> {
    const step = this.chain.then(() => this.pull());
    this.chain = step.catch(() => {});
    return step;
  }

  /** Leaves the loop: see the module documentation. Resolves once everything is settled and the consumer stopped. */
  async return(): Promise<IteratorResult<ConsumeMessage<T>>> {
    const cur = this.current;
    this.current = undefined;
    if (cur !== undefined) settle(cur, new LoopExitedError(this.queue));
    this.end();
    await this.stopped;
    return { done: true, value: undefined };
  }

  /** Fails the current message with `err` (the retry policy applies), then leaves the loop. */
  async throw(err?: unknown): Promise<IteratorResult<ConsumeMessage<T>>> {
    const cur = this.current;
    this.current = undefined;
    if (cur !== undefined) settle(cur, err ?? new LoopExitedError(this.queue));
    return this.return();
  }

  private async pull(): Promise<IteratorResult<ConsumeMessage<T>>> {
    const cur = this.current;
    this.current = undefined;
    if (cur !== undefined) settle(cur, undefined);
    if (this.failure !== undefined) throw this.failure;
    if (this.ended) {
      await this.stopped;
      return { done: true, value: undefined };
    }
    this.started ??= this.start();
    await this.started;
    for (;;) {
      const slot = this.buffer.shift();
      if (slot === undefined) break;
      // Its channel died while it waited: the broker delivers it again; an ack could not reach it.
      if ((slot.inner as Partial<Message<T>>).live === false) {
        settle(slot, RELEASE);
        continue;
      }
      this.current = slot;
      return { done: false, value: slot.msg };
    }
    if (this.ended) {
      await this.stopped;
      if (this.failure !== undefined) throw this.failure;
      return { done: true, value: undefined };
    }
    const r = await new Promise<IteratorResult<ConsumeMessage<T>>>((resolve) => {
      this.waiter = resolve;
    });
    if (r.done) {
      await this.stopped;
      if (this.failure !== undefined) throw this.failure;
    }
    return r;
  }

  private async start(): Promise<void> {
    const { signal: _signal, ...consumeOptions } = this.options;
    const c = await consume<T>(this.host, this.queue, (m) => this.hold(m), { ...consumeOptions, manual: false });
    this.sub = c;
    // A stop the loop did not ask for (the client's disconnect(), an unrecoverable cancel) ends the loop too.
    c.on('stopping', () => this.end());
    c.on('error', (err) => {
      if (err instanceof ConsumerCancelledError) this.failure ??= err;
      this.host.session.report(err, `messages() of queue ${JSON.stringify(this.queue)}`);
    });
  }

  /** The consumer's handler: hands the message to the loop and waits for its decision. */
  private hold(inner: ConsumeMessage<T>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const slot: Slot<T> = {
        inner,
        msg: undefined as never,
        settled: false,
        finish: (result) => (result === undefined ? resolve() : reject(result)),
      };
      (slot as { msg: LoopMessage<T> }).msg = new LoopMessage(slot);
      if (this.ended) {
        settle(slot, RELEASE);
        return;
      }
      const w = this.waiter;
      if (w !== undefined) {
        this.waiter = undefined;
        this.current = slot;
        w({ done: false, value: slot.msg });
      } else this.buffer.push(slot);
    });
  }

  /** No more messages: give back what was sent ahead, wake a waiting pull, stop the consumer. */
  private end(): void {
    if (this.ending) return;
    this.ending = true;
    this.ended = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    for (const slot of this.buffer.splice(0)) settle(slot, RELEASE);
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ done: true, value: undefined });
    if (this.sub !== undefined) this.stopped ??= this.sub.stop();
    else if (this.started === undefined) this.stopped ??= Promise.resolve();
    else this.stopped ??= this.started.then(() => this.sub?.stop()).catch(() => {});
  }
}

/**
 * Consumes `queue` as an async iterator: `for await (const msg of messages(mq, queue, options))`. The
 * same options and outcome policy as {@link consume}; the broker sends at most `prefetch` messages ahead
 * (default 1). See the module documentation for what each way of leaving the loop does.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * for await (const msg of mq.messages<Order>('orders', { json: true, prefetch: 10, signal: ac.signal })) {
 *   await save(msg.value);              // acked when the loop asks for the next message
 *   if (msg.value.last) { msg.ack(); break; } // acked now; what was sent ahead goes back to the queue
 * }                                     // a throw in the body: the message is retried / dead-lettered
 * ```
 */
export function messages<T = unknown>(
  mq: ConsumerHost,
  queue: string,
  options: MessagesOptions<T> = {},
): MessageStream<T> {
  return new MessageStream<T>(mq, queue, options);
}
