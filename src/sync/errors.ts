import { WarrenError } from '../protocol/errors.js';

/** One message of a {@link SyncRabbitMQ.publishMany} call that was not confirmed. */
export interface PublishManyFailure {
  /** Its index in the array given to publishMany. */
  index: number;
  /** Why: the same error publishMessage would have thrown (UnroutableError, PublishNackedError...). */
  error: Error;
}

/**
 * Some messages of a `publishMany` call were not confirmed. Every index not in {@link failures} was
 * confirmed by the broker; every index in it was not (nothing is dropped silently). `recoverable` is
 * true only when every failure is.
 */
export class PublishManyError extends WarrenError {
  static override readonly kind: string = 'PublishManyError';
  /** Failed messages, in index order. */
  readonly failures: readonly PublishManyFailure[];
  /** How many messages the call was given. */
  readonly total: number;
  constructor(failures: PublishManyFailure[], total: number) {
    const shown = failures
      .slice(0, 5)
      .map((f) => `#${f.index}: ${(f.error as WarrenError).code ?? f.error.name}: ${f.error.message}`)
      .join('; ');
    const more = failures.length > 5 ? `; and ${failures.length - 5} more` : '';
    super(`${failures.length} of ${total} messages were not confirmed: ${shown}${more}`, {
      code: 'ERR_PUBLISH_MANY',
      recoverable: failures.every((f) => f.error instanceof WarrenError && f.error.recoverable),
      cause: failures[0]?.error,
    });
    this.failures = failures;
    this.total = total;
  }
}
