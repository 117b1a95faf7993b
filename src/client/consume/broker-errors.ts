/**
 * What the broker does to a consumer on its own: ends its subscription ({@link ConsumerInterruptedError})
 * or would drop a message that reached its queue's delivery limit ({@link DeliveryLimitError}).
 * @module
 */
import { WarrenError } from '../../protocol/errors.js';
import type { FailureOutcome } from './errors.js';

/** Why the broker ended a subscription. */
export type InterruptionReason =
  /** basic.cancel from the broker: the queue was deleted, its node went down, or (RabbitMQ 4.3+, quorum queues) `x-consumer-timeout`. */
  | 'cancelled'
  /** The broker closed the consumer's channel because a delivery was not acked in time (406, RabbitMQ ≤ 4.2). */
  | 'consumer-timeout'
  /** The broker closed the consumer's channel for another reason. */
  | 'channel-closed';

/** Why the broker closed a consumer's channel: its consumer timeout (406 "delivery acknowledgement … timed out") or else. */
export function closeReason(err: Error): InterruptionReason {
  const replyCode = (err as { replyCode?: unknown }).replyCode;
  return replyCode === 406 && /acknowledgement.*timed out/i.test(err.message) ? 'consumer-timeout' : 'channel-closed';
}

/**
 * The broker ended the consumer's subscription and the consumer subscribes again (code
 * `ERR_CONSUMER_INTERRUPTED`, recoverable). Emitted as the consumer's `'interrupted'` event, and reported
 * like every consumer error (its `'error'` event when listened to, else the client's). `cause` is the
 * channel's close error, when the channel was closed.
 */
export class ConsumerInterruptedError extends WarrenError {
  static override readonly kind: string = 'ConsumerInterruptedError';
  readonly queue: string;
  readonly reason: InterruptionReason;
  readonly consumerTag: string | undefined;

  constructor(queue: string, reason: InterruptionReason, consumerTag: string | undefined, cause?: unknown) {
    const replyCode = (cause as { replyCode?: unknown } | undefined)?.replyCode;
    const what =
      reason === 'cancelled'
        ? 'the broker cancelled the subscription (basic.cancel)'
        : reason === 'consumer-timeout'
          ? 'the broker closed the channel: a delivery was not acknowledged within the consumer timeout'
          : 'the broker closed the channel';
    super(
      `consumer of queue ${JSON.stringify(queue)}: ${what}${cause instanceof Error ? ` (${cause.message})` : ''}; subscribing again`,
      {
        code: 'ERR_CONSUMER_INTERRUPTED',
        recoverable: true,
        cause,
        replyCode: typeof replyCode === 'number' ? replyCode : undefined,
      },
    );
    this.queue = queue;
    this.reason = reason;
    this.consumerTag = consumerTag;
  }
}

/**
 * A quorum queue delivered a message so often (`x-delivery-count`) that one more requeue — a nack, a lost
 * channel or connection — would make the broker drop it (its `x-delivery-limit`, 20 by default on
 * RabbitMQ 4). The consumer sent it to its dead-letter target instead of handing it to the handler (code
 * `ERR_DELIVERY_LIMIT`).
 */
export class DeliveryLimitError extends WarrenError {
  static override readonly kind: string = 'DeliveryLimitError';
  readonly queue: string;
  readonly deliveryCount: number;
  readonly deliveryLimit: number;
  readonly messageId: string | undefined;
  readonly outcome: FailureOutcome;

  constructor(info: {
    queue: string;
    deliveryCount: number;
    deliveryLimit: number;
    messageId: string | undefined;
    outcome: FailureOutcome;
  }) {
    super(
      `message ${info.messageId ?? '(no message id)'} from queue ${JSON.stringify(info.queue)} was delivered ${info.deliveryCount + 1} times (x-delivery-count ${info.deliveryCount}, x-delivery-limit ${info.deliveryLimit}): one more requeue would make the broker drop it (${info.outcome})`,
      { code: 'ERR_DELIVERY_LIMIT', recoverable: false },
    );
    this.queue = info.queue;
    this.deliveryCount = info.deliveryCount;
    this.deliveryLimit = info.deliveryLimit;
    this.messageId = info.messageId;
    this.outcome = info.outcome;
  }
}
