/**
 * Errors raised by consumers ({@link consume}) and RPC ({@link rpc}, {@link rpcServer}).
 *
 * Each has a stable `code`; the ones that describe a single message's fate carry the queue, the attempt
 * and the outcome so that a log line or a metric can be built from the error alone.
 * @module
 */
import { WarrenError } from '../../protocol/errors.js';

/** Invalid options given to `consume`, `rpc` or `rpcServer` (code `ERR_INVALID_OPTIONS`). Not recoverable. */
export class ConsumerOptionsError extends WarrenError {
  static override readonly kind: string = 'ConsumerOptionsError';
  constructor(message: string) {
    super(message, { code: 'ERR_INVALID_OPTIONS', recoverable: false });
  }
}

/** What a consumer did with a message whose handler failed. */
export type FailureOutcome =
  /** Published to a retry queue; the broker delivers it again after the delay. */
  | 'retry'
  /** Published to the dead-letter target (attempts exhausted, or the payload could not be decoded). */
  | 'dead-letter'
  /** `deadLetter: false`: nacked without requeue (the queue's own `x-dead-letter-exchange` applies, if any). */
  | 'discard'
  /** Manual mode and the handler had already settled the message: nothing more was done. */
  | 'manual'
  /** Its channel closed before it could be settled: the broker delivers it again. */
  | 'redeliver';

/** Where a failed message came from, carried by {@link HandlerError} and {@link MessageDecodeError}. */
export interface FailedMessageInfo {
  /** The queue the message was consumed from. */
  queue: string;
  /** 1-based attempt that failed. */
  attempt: number;
  /** Attempts allowed by the retry policy (1 without `retry`). */
  attempts: number;
  /** The message's delivery tag on the consumer's channel (only meaningful on that channel, for correlating logs). */
  deliveryTag: number;
  /** The message's `messageId` property, `undefined` if the publisher set none. */
  messageId: string | undefined;
  /** What the consumer did with the message after the failure. */
  outcome: FailureOutcome;
}

/**
 * A consumer's handler threw, rejected or timed out (`cause` is what it threw). Emitted on the consumer's
 * `'error'` event when it has a listener, otherwise passed to the client's `'error'` event / logger.
 * Code `ERR_HANDLER_FAILED`.
 */
export class HandlerError extends WarrenError {
  static override readonly kind: string = 'HandlerError';
  /** {@inheritDoc FailedMessageInfo.queue} */
  readonly queue: string;
  /** {@inheritDoc FailedMessageInfo.attempt} */
  readonly attempt: number;
  /** {@inheritDoc FailedMessageInfo.attempts} */
  readonly attempts: number;
  /** {@inheritDoc FailedMessageInfo.deliveryTag} */
  readonly deliveryTag: number;
  /** {@inheritDoc FailedMessageInfo.messageId} */
  readonly messageId: string | undefined;
  /** {@inheritDoc FailedMessageInfo.outcome} */
  readonly outcome: FailureOutcome;

  constructor(info: FailedMessageInfo, cause: unknown) {
    super(
      `handler for queue ${JSON.stringify(info.queue)} failed on attempt ${info.attempt} of ${info.attempts} (${info.outcome}): ${errorText(cause)}`,
      { code: 'ERR_HANDLER_FAILED', recoverable: true, cause },
    );
    this.queue = info.queue;
    this.attempt = info.attempt;
    this.attempts = info.attempts;
    this.deliveryTag = info.deliveryTag;
    this.messageId = info.messageId;
    this.outcome = info.outcome;
  }
}

/** A handler did not settle within `handlerTimeoutMs` (code `ERR_HANDLER_TIMEOUT`); counts as a failure. */
export class HandlerTimeoutError extends WarrenError {
  static override readonly kind: string = 'HandlerTimeoutError';
  /** The `handlerTimeoutMs` that was exceeded, in ms. */
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`the handler did not settle within ${timeoutMs} ms`, { code: 'ERR_HANDLER_TIMEOUT', recoverable: true });
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A payload failed `json` or `schema` decoding (code `ERR_MESSAGE_DECODE`). The message goes to the
 * dead-letter target at once (retrying cannot fix it) and the handler is not called.
 */
export class MessageDecodeError extends WarrenError {
  static override readonly kind: string = 'MessageDecodeError';
  /** {@inheritDoc FailedMessageInfo.queue} */
  readonly queue: string;
  /** {@inheritDoc FailedMessageInfo.deliveryTag} */
  readonly deliveryTag: number;
  /** {@inheritDoc FailedMessageInfo.messageId} */
  readonly messageId: string | undefined;
  /** {@inheritDoc FailedMessageInfo.outcome} */
  readonly outcome: FailureOutcome;

  constructor(message: string, info: Omit<FailedMessageInfo, 'attempt' | 'attempts'>, cause?: unknown) {
    super(message, { code: 'ERR_MESSAGE_DECODE', recoverable: false, cause });
    this.queue = info.queue;
    this.deliveryTag = info.deliveryTag;
    this.messageId = info.messageId;
    this.outcome = info.outcome;
  }
}

/**
 * The broker cancelled a consumer (its queue was deleted, ...) and it could not subscribe again: the
 * queue is not in the client's topology and no longer exists, or re-declaring it failed. Code
 * `ERR_CONSUMER_CANCELLED`; the consumer is stopped.
 */
export class ConsumerCancelledError extends WarrenError {
  static override readonly kind: string = 'ConsumerCancelledError';
  /** The queue whose consumer the broker cancelled. */
  readonly queue: string;
  constructor(queue: string, why: string, cause?: unknown) {
    super(`the broker cancelled the consumer of queue ${JSON.stringify(queue)} and it could not resubscribe: ${why}`, {
      code: 'ERR_CONSUMER_CANCELLED',
      recoverable: false,
      cause,
    });
    this.queue = queue;
  }
}

/** `ack()`, `nack()` or `reject()` called on a message of a consumer without `manual: true` (code `ERR_NOT_MANUAL`). */
export class NotManualModeError extends WarrenError {
  static override readonly kind: string = 'NotManualModeError';
  constructor(what: string) {
    super(
      `${what}() is only available on consumers started with { manual: true }: otherwise the consumer settles messages itself`,
      {
        code: 'ERR_NOT_MANUAL',
        recoverable: false,
      },
    );
  }
}

/** An RPC call got no reply within `timeoutMs` (code `ERR_RPC_TIMEOUT`). A reply arriving later is dropped. */
export class RpcTimeoutError extends WarrenError {
  static override readonly kind: string = 'RpcTimeoutError';
  /** The routing key the request was published with (the server's queue, for the default exchange). */
  readonly routingKey: string;
  /** How long the call waited for the reply, in ms. */
  readonly timeoutMs: number;
  /** The `correlationId` of the request; a reply carrying it that arrives later is dropped. */
  readonly correlationId: string;
  constructor(exchange: string, routingKey: string, timeoutMs: number, correlationId: string) {
    super(
      `rpc to ${describeTarget(exchange, routingKey)} got no reply within ${timeoutMs} ms (correlation id ${correlationId})`,
      { code: 'ERR_RPC_TIMEOUT', recoverable: true },
    );
    this.routingKey = routingKey;
    this.timeoutMs = timeoutMs;
    this.correlationId = correlationId;
  }
}

/**
 * The RPC server's handler failed; `message` and `remoteMessage` carry its error message (the
 * `x-warren-error` header of the reply). Code `ERR_RPC_REMOTE`.
 */
export class RpcRemoteError extends WarrenError {
  static override readonly kind: string = 'RpcRemoteError';
  /** The server handler's error message, as sent. */
  readonly remoteMessage: string;
  /** The server handler's error `code`, when it had one. */
  readonly remoteCode: string | undefined;
  constructor(remoteMessage: string, remoteCode?: string) {
    super(remoteMessage, { code: 'ERR_RPC_REMOTE', recoverable: false });
    this.remoteMessage = remoteMessage;
    this.remoteCode = remoteCode;
  }
}

/** The request was returned unroutable: no queue is bound for it, so no server is listening (code `ERR_RPC_NO_SERVER`). */
export class RpcNoServerError extends WarrenError {
  static override readonly kind: string = 'RpcNoServerError';
  /** The routing key the returned request was published with. */
  readonly routingKey: string;
  constructor(exchange: string, routingKey: string, replyCode: number, replyText: string) {
    super(
      `rpc to ${describeTarget(exchange, routingKey)}: no server is listening (the broker returned the request: ${replyCode} ${replyText})`,
      { code: 'ERR_RPC_NO_SERVER', replyCode, replyText, recoverable: true },
    );
    this.routingKey = routingKey;
  }
}

/**
 * The connection (or the RPC channel) was lost while a call waited for its reply: the reply can no longer
 * arrive. The request may or may not have been processed. Code `ERR_RPC_CONNECTION_LOST`, recoverable:
 * calling again after the reconnect may succeed.
 */
export class RpcConnectionLostError extends WarrenError {
  static override readonly kind: string = 'RpcConnectionLostError';
  constructor(routingKey: string, cause: unknown) {
    super(`rpc ${JSON.stringify(routingKey)}: the connection was lost before the reply arrived: ${errorText(cause)}`, {
      code: 'ERR_RPC_CONNECTION_LOST',
      recoverable: true,
      cause,
    });
  }
}

/** The message of anything thrown. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

function describeTarget(exchange: string, routingKey: string): string {
  return exchange === ''
    ? `queue ${JSON.stringify(routingKey)}`
    : `exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)}`;
}
