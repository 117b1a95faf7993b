/**
 * What a handler can decide about its message beyond resolving (ack) or throwing (the retry policy):
 * requeue it now, retry it later, dead-letter it, or drop it. A decision is made by calling the message's
 * method (`msg.retryLater(5000)`), or by returning or throwing an outcome (`return Outcome.drop('stale')`);
 * see the table in the README. `outcomes.ts` carries it out.
 * @module
 */
import { ConsumerOptionsError } from './errors.js';

/** The explicit outcomes of a message. */
export type OutcomeKind = 'requeue' | 'retry-later' | 'dead-letter' | 'drop';

/**
 * An explicit outcome for a message, returned or thrown by a handler (or made by the message's methods
 * `requeue()`, `retryLater()`, `deadLetter()`, `drop()`).
 *
 * @example
 * ```ts
 * await mq.consume<Order>('orders', async (msg) => {
 *   if (msg.value.version < 2) return Outcome.drop('order format v1 is retired');
 *   if (!(await stock.ready())) return msg.retryLater(30_000);
 *   if (!msg.value.sku) throw Outcome.deadLetter('no sku');
 *   await save(msg.value);
 * }, { json: true });
 * ```
 */
export class Outcome {
  private constructor(
    /** Which outcome. */
    readonly kind: OutcomeKind,
    /** Why: goes into the `x-warren-error` header of the copy (and the log line of a drop). */
    readonly reason: string | undefined,
    /** `retry-later` only: the delay asked for (undefined: the retry policy's delay for this attempt). */
    readonly delayMs: number | undefined,
  ) {
    Object.freeze(this);
  }

  /**
   * Publishes the message again to the back of its own queue at once, as the next attempt
   * (`x-warren-attempt` + 1); once attempts run out it is dead-lettered instead.
   */
  static requeue(reason?: string): Outcome {
    return new Outcome('requeue', reason, undefined);
  }

  /**
   * Sends the message through the retry queue `<queue>.retry.<delayMs>` (declared when first needed), as
   * the next attempt; once attempts run out it is dead-lettered instead. Without `delayMs`: the retry
   * policy's delay for this attempt, else {@link DEFAULT_RETRY_LATER_MS}.
   */
  /** @throws ConsumerOptionsError (`ERR_INVALID_OPTIONS`) for a delay outside 0..2147483647 ms. */
  static retryLater(delayMs?: number, reason?: string): Outcome {
    if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0 || delayMs > 0x7fffffff)) {
      throw new ConsumerOptionsError(`retryLater: delayMs must be 0..2147483647 ms, got ${String(delayMs)}`);
    }
    return new Outcome('retry-later', reason, delayMs === undefined ? undefined : Math.round(delayMs));
  }

  /** Dead-letters the message now, whatever attempts remain, with `reason` in `x-warren-error`. */
  static deadLetter(reason: string): Outcome {
    return new Outcome('dead-letter', reason, undefined);
  }

  /** Acks the message without processing it; logged (warn) with `reason`. */
  static drop(reason: string): Outcome {
    return new Outcome('drop', reason, undefined);
  }
}

/** Delay of `retryLater()` without a delay when the consumer has no retry policy. */
export const DEFAULT_RETRY_LATER_MS = 5000;

/**
 * How many attempts `requeue()` / `retryLater()` may use when the consumer has no retry policy (with
 * one, `retry.attempts` bounds them as it bounds failures).
 */
export const DEFAULT_OUTCOME_ATTEMPTS = 5;

/** Internal: give a delivery back to the broker untouched (nack + requeue), not counted as an attempt. */
export const RELEASE: Readonly<{ release: true }> = Object.freeze({ release: true });
