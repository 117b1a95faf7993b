/**
 * What a consumer does with a message that failed: a copy to a retry queue while attempts remain, a copy
 * to the dead-letter target once they are exhausted (or at once when the payload or its content header
 * cannot be decoded), the original acked only once the broker confirmed the copy. A copy is sanitized
 * first (see `sanitize.ts`) so that what another client put in a message cannot keep it from its target.
 * @module
 */
import { EncodeError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import { InvalidMessageError, UnroutableError } from '../errors.js';
import type { PublishMessageOptions } from '../message.js';
import { sleep } from '../session/deadline.js';
import type { Session } from '../session/types.js';
import { DeliveryLimitError } from './broker-errors.js';
import { declareRetryQueue } from './companions.js';
import type { Entry, Settle } from './delivery.js';
import { errorText, type FailureOutcome, HandlerError, MessageDecodeError } from './errors.js';
import { DEFAULT_OUTCOME_ATTEMPTS, DEFAULT_RETRY_LATER_MS, Outcome, RELEASE } from './handler-outcome.js';
import { deadLetterHeaders, originOf, retryHeaders } from './message.js';
import { type ResolvedOptions, retryQueueName } from './options.js';
import { REMOVED_HEADER, sanitizeCopy } from './sanitize.js';

/** How long a message whose retry/dead-letter copy could not be published is held before it is requeued. */
const REPUBLISH_FAILURE_HOLD_MS = 1000;

/** What the failure policy needs from its consumer. */
export interface OutcomeHost {
  /** The queue's current name. */
  readonly queue: string;
  readonly session: Session;
  readonly settle: Settle;
  report(err: unknown, what: string): void;
  readonly stopping: boolean;
  /** Declares the retry queues / dead-letter target again on the current connection; false when it cannot. */
  redeclareCompanions(): Promise<boolean>;
}

export class Outcomes {
  /** Retry delays with a declared retry queue: the policy's, and those `retryLater` declared since. */
  private readonly retryQueues: Set<number>;

  constructor(
    private readonly host: OutcomeHost,
    private readonly opts: ResolvedOptions<unknown>,
  ) {
    this.retryQueues = new Set(opts.delays);
  }

  /** The payload (`error` says why) or the content header could not be decoded: dead-letter it at once. */
  async undecodable(entry: Entry, attempt: number, error: string, cause: unknown): Promise<void> {
    const d = entry.delivery;
    const outcome: FailureOutcome = !entry.channel.isOpen
      ? 'redeliver'
      : this.opts.deadLetter === false
        ? 'discard'
        : 'dead-letter';
    const queue = this.host.queue;
    const err = new MessageDecodeError(
      `message ${d.properties.messageId ?? `#${d.deliveryTag}`} from queue ${JSON.stringify(queue)}: ${error}`,
      { queue, deliveryTag: d.deliveryTag, messageId: d.properties.messageId, outcome },
      cause,
    );
    this.host.report(err, 'decoding a message');
    await this.deadLetter(entry, attempt, error, outcome);
  }

  /**
   * The delivery is at its quorum queue's delivery limit (see `delivery-limit.ts`): dead-letter it now,
   * without calling the handler, so that no requeue can make the broker drop it.
   */
  async atDeliveryLimit(entry: Entry, attempt: number, at: { count: number; limit: number }): Promise<void> {
    const outcome: FailureOutcome = !entry.channel.isOpen
      ? 'redeliver'
      : this.opts.deadLetter === false
        ? 'discard'
        : 'dead-letter';
    const err = new DeliveryLimitError({
      queue: this.host.queue,
      deliveryCount: at.count,
      deliveryLimit: at.limit,
      messageId: entry.delivery.properties.messageId,
      outcome,
    });
    this.host.report(err, 'delivery limit');
    await this.deadLetter(entry, attempt, err, outcome);
  }

  /**
   * The handler failed: retry, dead-letter or discard as the policy says. An explicit outcome (returned,
   * thrown, or made with the message's methods, which win over what is thrown) is carried out instead.
   */
  async failed(entry: Entry, attempt: number, cause: unknown): Promise<void> {
    if (cause === RELEASE) {
      this.host.settle(entry, 'nack', true);
      return;
    }
    const explicit = entry.decision ?? (cause instanceof Outcome ? cause : undefined);
    if (explicit !== undefined) {
      // Manual mode and already settled by hand: the decision came too late, and is no failure.
      if (!entry.settled) await this.explicit(entry, attempt, explicit);
      return;
    }
    const o = this.opts;
    const d = entry.delivery;
    let outcome: FailureOutcome;
    if (entry.settled) outcome = 'manual';
    else if (!entry.channel.isOpen) outcome = 'redeliver';
    else if (attempt < o.attempts) outcome = 'retry';
    else outcome = o.deadLetter === false ? 'discard' : 'dead-letter';
    this.host.report(
      new HandlerError(
        {
          queue: this.host.queue,
          attempt,
          attempts: o.attempts,
          deliveryTag: d.deliveryTag,
          messageId: d.properties.messageId,
          outcome,
        },
        cause,
      ),
      'handler',
    );
    switch (outcome) {
      case 'manual':
        return;
      case 'redeliver':
        this.host.settle(entry, 'drop', false);
        return;
      case 'retry': {
        const delay = o.delays[attempt - 1] ?? 0;
        const queue = this.host.queue;
        await this.republish(
          entry,
          '',
          retryQueueName(queue, delay),
          retryHeaders(d, attempt + 1, cause),
          'retry queue',
        );
        return;
      }
      default:
        await this.deadLetter(entry, attempt, cause, outcome);
    }
  }

  /** Carries out an explicit outcome; see {@link Outcome}. */
  private async explicit(entry: Entry, attempt: number, outcome: Outcome): Promise<void> {
    const d = entry.delivery;
    const queue = this.host.queue;
    if (!entry.channel.isOpen) {
      this.host.settle(entry, 'drop', false);
      return;
    }
    const log = { queue, messageId: d.properties.messageId, attempt, outcome: outcome.kind, reason: outcome.reason };
    if (outcome.kind === 'drop') {
      this.host.session.logger.warn(
        log,
        `warren: consumer of queue ${JSON.stringify(queue)}: dropped message ${d.properties.messageId ?? `#${d.deliveryTag}`}: ${outcome.reason}`,
      );
      this.host.settle(entry, 'ack', false);
      return;
    }
    if (outcome.kind === 'dead-letter') {
      const target = this.opts.deadLetter === false ? 'discard' : 'dead-letter';
      await this.deadLetter(entry, attempt, outcome.reason ?? 'dead-lettered by the handler', target);
      return;
    }
    const limit = this.opts.attempts > 1 ? this.opts.attempts : DEFAULT_OUTCOME_ATTEMPTS;
    const what = outcome.kind === 'requeue' ? 'requeued' : 'retried later';
    const reason = outcome.reason ?? `${what} by the handler`;
    if (attempt >= limit) {
      const target = this.opts.deadLetter === false ? 'discard' : 'dead-letter';
      await this.deadLetter(entry, attempt, `${reason} (${what} on attempt ${attempt} of ${limit})`, target);
      return;
    }
    const headers = retryHeaders(d, attempt + 1, reason);
    if (outcome.kind === 'requeue') {
      await this.republish(entry, '', queue, headers, 'queue itself');
      return;
    }
    const delay = outcome.delayMs ?? this.opts.delays[attempt - 1] ?? DEFAULT_RETRY_LATER_MS;
    if (!this.retryQueues.has(delay)) {
      const conn = this.host.session.current?.conn;
      try {
        if (conn === undefined || !conn.isOpen) throw new Error('not connected');
        await declareRetryQueue(conn, queue, delay);
        this.retryQueues.add(delay);
      } catch (err) {
        // Leave it to the broker: the channel is probably gone with the connection, and it redelivers.
        this.host.report(
          err,
          `declaring the retry queue for ${delay} ms failed (${errorText(err)}); the message is requeued`,
        );
        if (!this.host.stopping) await sleep(REPUBLISH_FAILURE_HOLD_MS);
        this.host.settle(entry, 'nack', true);
        return;
      }
    }
    await this.republish(entry, '', retryQueueName(queue, delay), headers, 'retry queue');
  }

  private async deadLetter(entry: Entry, attempts: number, cause: unknown, outcome: FailureOutcome): Promise<void> {
    const target = this.opts.deadLetter;
    if (outcome === 'redeliver') {
      this.host.settle(entry, 'drop', false);
      return;
    }
    if (target === false || outcome === 'discard') {
      this.host.settle(entry, 'nack', false);
      return;
    }
    const d = entry.delivery;
    const routingKey = target.routingKey ?? originOf(d).routingKey;
    const headers = deadLetterHeaders(d, this.host.queue, attempts, cause);
    await this.republish(entry, target.exchange, routingKey, headers, 'dead-letter target');
  }

  /**
   * Publishes a copy (confirmed), then acks the original on its own channel. If the copy cannot be
   * published, the original is held a moment and requeued: never lost. A copy the client cannot encode
   * is never requeued (it would fail the same way forever): it goes with only the client's own headers.
   */
  private async republish(
    entry: Entry,
    exchange: string,
    routingKey: string,
    headers: FieldTable,
    what: string,
  ): Promise<void> {
    const p = entry.delivery.properties;
    const clean = sanitizeCopy(headers, p.timestamp);
    let options: PublishMessageOptions = {
      exchange,
      headers: clean.headers,
      mandatory: true,
      persistent: p.deliveryMode !== 1,
      messageId: p.messageId,
      contentType: p.contentType,
      contentEncoding: p.contentEncoding,
      priority: p.priority,
      correlationId: p.correlationId,
      replyTo: p.replyTo,
      type: p.type,
      appId: p.appId,
      timestamp: clean.timestamp,
    };
    let redeclared = false;
    let bare = false;
    for (;;) {
      try {
        await this.host.session.publish(routingKey, entry.delivery.body, options);
        break;
      } catch (err) {
        if (!entry.channel.isOpen) {
          this.host.settle(entry, 'drop', false);
          return;
        }
        if (!bare && (err instanceof EncodeError || err instanceof InvalidMessageError)) {
          // Something sanitizing did not foresee: send the body with the client's own headers only.
          bare = true;
          options = bareCopy(options, clean.headers, err);
          continue;
        }
        if (!redeclared && err instanceof UnroutableError) {
          // Our retry queue / dead-letter queue was deleted behind our back: declare it again, once.
          redeclared = true;
          if (await this.host.redeclareCompanions()) continue;
        }
        this.host.report(
          err,
          `publishing to the ${what} failed; the message is requeued in ${REPUBLISH_FAILURE_HOLD_MS} ms`,
        );
        if (!this.host.stopping) await sleep(REPUBLISH_FAILURE_HOLD_MS);
        this.host.settle(entry, 'nack', true);
        return;
      }
    }
    this.host.settle(entry, 'ack', false);
  }
}

/** A copy with only the `x-warren-*` headers and no optional properties. */
function bareCopy(options: PublishMessageOptions, headers: FieldTable, err: unknown): PublishMessageOptions {
  const own: Record<string, FieldTable[string]> = {};
  for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-warren-') && typeof v !== 'object') own[k] = v;
  const why = err instanceof Error ? err.message : String(err);
  own[REMOVED_HEADER] =
    `${own[REMOVED_HEADER] ? `${String(own[REMOVED_HEADER])}, ` : ''}all other headers and properties (${why})`.slice(
      0,
      1000,
    );
  return {
    exchange: options.exchange,
    headers: own,
    mandatory: options.mandatory,
    persistent: options.persistent,
    messageId: typeof options.messageId === 'string' ? options.messageId : undefined,
  };
}
