import { WarrenError } from '../protocol/errors.js';

/** A mandatory message the broker could not route to any queue (basic.return, usually 312 NO_ROUTE). */
export class UnroutableError extends WarrenError {
  static override readonly kind: string = 'UnroutableError';
  /** The exchange the message was published to (`""` for the default exchange). */
  readonly exchange: string;
  /** The routing key it was published with. */
  readonly routingKey: string;
  constructor(exchange: string, routingKey: string, replyCode: number, replyText: string) {
    super(
      `message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)} was returned: ${replyCode} ${replyText} (no queue is bound for it)`,
      { code: 'ERR_UNROUTABLE', replyCode, replyText, recoverable: false },
    );
    this.exchange = exchange;
    this.routingKey = routingKey;
  }
}

/** The publish buffer stayed full for longer than `publishTimeoutMs`. */
export class PublishTimeoutError extends WarrenError {
  static override readonly kind: string = 'PublishTimeoutError';
  constructor(message: string) {
    super(message, { code: 'ERR_PUBLISH_TIMEOUT', recoverable: true });
  }
}

/** The broker refused responsibility for a message (basic.nack), e.g. a queue full with x-overflow reject-publish. */
export class PublishNackedError extends WarrenError {
  static override readonly kind: string = 'PublishNackedError';
  constructor(exchange: string, routingKey: string, attempts = 1) {
    super(
      `the broker nacked the message to exchange ${JSON.stringify(exchange)} with routing key ${JSON.stringify(routingKey)}${attempts > 1 ? ` (${attempts} attempts)` : ''}`,
      {
        code: 'ERR_PUBLISH_NACKED',
        recoverable: true,
      },
    );
  }
}

/** The client was disconnected (or is not connected) and cannot do what was asked. */
export class ClientClosedError extends WarrenError {
  static override readonly kind: string = 'ClientClosedError';
  constructor(message: string, cause?: unknown) {
    super(message, { code: 'ERR_CLIENT_CLOSED', recoverable: false, cause });
  }
}

/** A message argument that cannot be published as given (bad expiration, priority, body type...). */
export class InvalidMessageError extends WarrenError {
  static override readonly kind: string = 'InvalidMessageError';
  constructor(message: string) {
    super(message, { code: 'ERR_INVALID_MESSAGE', recoverable: false });
  }
}

/**
 * A message body over `maxMessageBytes` (default 16 MiB, RabbitMQ 4's `max_message_size`): refused before
 * anything is written, because the broker would close the publish channel for it.
 * @example
 * ```ts
 * const mq = new AsyncRabbitMQ(config, { publish: { maxMessageBytes: 64 * 1024 * 1024 } }); // broker raised to match
 * try { await mq.publishMessage('uploads', hugeBuffer); }
 * catch (err) { if (err instanceof MessageTooLargeError) console.log(err.size, err.limit); }
 * ```
 */
export class MessageTooLargeError extends WarrenError {
  static override readonly kind: string = 'MessageTooLargeError';
  /** Body size in bytes. */
  readonly size: number;
  /** The limit it is over, in bytes. */
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(
      `message body of ${size} bytes is over the limit of ${limit} bytes (maxMessageBytes; RabbitMQ's max_message_size)`,
      { code: 'ERR_MESSAGE_TOO_LARGE', recoverable: false },
    );
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A call given up because its `signal` aborted: `cause` is the signal's reason. What the call had started
 * is undone where that is possible (a publish never written leaves the buffer); see each call's docs.
 * @example
 * ```ts
 * try { await mq.publishMessage('jobs', job, { signal: req.signal }); }
 * catch (err) { if (err instanceof WarrenError && err.code === 'ERR_ABORTED') return; throw err; }
 * ```
 */
export class AbortedError extends WarrenError {
  static override readonly kind: string = 'AbortedError';
  constructor(what: string, reason: unknown) {
    super(`${what} was aborted${reasonText(reason)}`, { code: 'ERR_ABORTED', recoverable: false, cause: reason });
  }
}

/** `connect({ timeoutMs })` passed before the client was ready. */
export class ConnectTimeoutError extends WarrenError {
  static override readonly kind: string = 'ConnectTimeoutError';
  constructor(message: string) {
    super(message, { code: 'ERR_CONNECT_TIMEOUT', recoverable: true });
  }
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return `: ${reason.message}`;
  if (typeof reason === 'string') return `: ${reason}`;
  return '';
}
