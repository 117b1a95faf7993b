/**
 * Consuming as the counters and the diagnostics channels see it: the handler wrapped once per consumer
 * (an event only while someone subscribes), failures counted from the error the consumer reports (it
 * names the outcome), settlements published from the one place deliveries are settled.
 * @module
 */
import type { Entry, SettleKind } from '../consume/delivery.js';
import { HandlerError, MessageDecodeError } from '../consume/errors.js';
import type { ConsumeMessage } from '../consume/message.js';
import {
  type ClientInfo,
  type ContextWrapper,
  type DeliverEvent,
  deadLetterChannel,
  deliverChannel,
  deliverDoneChannel,
  retryChannel,
  settleChannel,
} from './channels.js';
import type { ClientCounters } from './stats.js';

type Handler<T> = (msg: ConsumeMessage<T>) => unknown;

class Delivered implements DeliverEvent {
  readonly startedAt = performance.now();
  durationMs = 0;
  error: unknown = undefined;
  private wrappers: ContextWrapper[] | undefined;
  private open = true;

  constructor(
    readonly client: ClientInfo,
    readonly queue: string,
    readonly message: ConsumeMessage<unknown>,
  ) {}

  bind(wrapper: ContextWrapper): void {
    if (!this.open) throw new TypeError('DeliverEvent.bind: only during the warren:deliver event');
    if (this.wrappers === undefined) this.wrappers = [wrapper];
    else this.wrappers.push(wrapper);
  }

  async run<T>(handler: Handler<T>, msg: ConsumeMessage<T>): Promise<void> {
    if (deliverChannel.hasSubscribers) deliverChannel.publish(this);
    this.open = false;
    let call = (): unknown => handler(msg);
    const wrappers = this.wrappers;
    if (wrappers !== undefined) {
      for (let i = wrappers.length - 1; i >= 0; i--) {
        const inner = call;
        const wrap = wrappers[i]!;
        call = () => wrap(inner);
      }
    }
    try {
      await call();
    } catch (err) {
      this.error = err;
      throw err;
    } finally {
      this.durationMs = performance.now() - this.startedAt;
      if (deliverDoneChannel.hasSubscribers) deliverDoneChannel.publish(this);
    }
  }
}

/**
 * The consumer's handler, seen by the diagnostics channels: while nobody subscribes to `warren:deliver`
 * or `warren:deliver:done` it is the handler itself, called directly (nothing allocated).
 */
export function observeHandler<T>(
  counters: ClientCounters,
  consumer: { readonly queue: string },
  handler: Handler<T>,
): Handler<T> {
  return (msg) => {
    if (!deliverChannel.hasSubscribers && !deliverDoneChannel.hasSubscribers) return handler(msg);
    return new Delivered(counters.client, consumer.queue, msg as ConsumeMessage<unknown>).run(handler, msg);
  };
}

/**
 * Counts what a consumer reports: a handler failure, and where the failed or undecodable message went
 * (the error names the outcome); publishes retries and dead-letterings.
 */
export function observeFailure(counters: ClientCounters, err: unknown): void {
  const handler = err instanceof HandlerError;
  if (!handler && !(err instanceof MessageDecodeError)) return;
  if (handler) counters.failed++;
  if (err.outcome === 'retry') {
    counters.retried++;
    if (retryChannel.hasSubscribers) retryChannel.publish({ client: counters.client, queue: err.queue, error: err });
  } else if (err.outcome === 'dead-letter') {
    counters.deadLettered++;
    if (deadLetterChannel.hasSubscribers)
      deadLetterChannel.publish({ client: counters.client, queue: err.queue, error: err });
  }
}

/** A delivery was settled (`sent`: whether a frame went out). */
export function observeSettle(entry: Entry, kind: SettleKind, requeue: boolean, sent: boolean): void {
  if (!settleChannel.hasSubscribers) return;
  const d = entry.delivery;
  settleChannel.publish({ consumerTag: d.consumerTag, deliveryTag: d.deliveryTag, kind, requeue, sent });
}
