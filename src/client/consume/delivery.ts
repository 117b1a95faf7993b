/**
 * One delivery on its way through a consumer ({@link Entry}) and the message object its handler sees.
 * @module
 */
import type { Channel, Delivery } from '../../connection/channel.js';
import type { FieldTable } from '../../protocol/field-table.js';
import { NotManualModeError } from './errors.js';
import { Outcome } from './handler-outcome.js';
import { type ConsumeMessage, type MessageFields, originOf } from './message.js';

/**
 * A delivery as the engine hands it over. `decodeError` is set when its content header could not be
 * decoded: the engine hands the delivery over instead of closing the connection, and the consumer fails
 * that one message.
 */
export type IncomingDelivery = Delivery & { decodeError?: unknown };

/** One delivery, from arrival until it is settled, on the channel it came from. */
export interface Entry {
  readonly channel: Channel;
  readonly delivery: IncomingDelivery;
  settled: boolean;
  /** What the handler decided with `msg.requeue()`, `msg.retryLater()`... (applied when it returns). */
  decision?: Outcome;
}

export type SettleKind = 'ack' | 'nack' | 'reject' | 'drop';

/** Settles an entry once; returns whether anything was sent. */
export type Settle = (entry: Entry, kind: SettleKind, requeue: boolean) => boolean;

/** The message object handed to handlers. */
export class Message<T> implements ConsumeMessage<T> {
  readonly body: Buffer;
  readonly properties: Delivery['properties'];
  private headersMade: FieldTable | undefined;
  private fieldsMade: MessageFields | undefined;

  constructor(
    readonly queue: string,
    private readonly entry: Entry,
    readonly value: T,
    readonly attempt: number,
    private readonly manual: boolean,
    private readonly settleFn: Settle,
  ) {
    const d = entry.delivery;
    this.body = d.body;
    this.properties = d.properties;
  }

  /** The message's headers; an empty table (made on first use) when it has none. */
  get headers(): FieldTable {
    this.headersMade ??= this.properties.headers ?? {};
    return this.headersMade;
  }

  /** Made on first use: most handlers never look, and it is two objects per message. */
  get fields(): MessageFields {
    if (this.fieldsMade === undefined) {
      const d = this.entry.delivery;
      const origin = originOf(d);
      this.fieldsMade = {
        redelivered: d.redelivered,
        deliveryTag: d.deliveryTag,
        exchange: origin.exchange,
        routingKey: origin.routingKey,
        consumerTag: d.consumerTag,
      };
    }
    return this.fieldsMade;
  }

  ack(): boolean {
    if (!this.manual) throw new NotManualModeError('ack');
    return this.settleFn(this.entry, 'ack', false);
  }

  nack(options: { requeue?: boolean } = {}): boolean {
    if (!this.manual) throw new NotManualModeError('nack');
    return this.settleFn(this.entry, 'nack', options.requeue ?? true);
  }

  reject(options: { requeue?: boolean } = {}): boolean {
    if (!this.manual) throw new NotManualModeError('reject');
    return this.settleFn(this.entry, 'reject', options.requeue ?? false);
  }

  requeue(reason?: string): Outcome {
    return this.decide(Outcome.requeue(reason));
  }

  retryLater(delayMs?: number, reason?: string): Outcome {
    return this.decide(Outcome.retryLater(delayMs, reason));
  }

  deadLetter(reason: string): Outcome {
    return this.decide(Outcome.deadLetter(reason));
  }

  drop(reason: string): Outcome {
    return this.decide(Outcome.drop(reason));
  }

  /** @internal The decision made through the methods above, if any. */
  get decision(): Outcome | undefined {
    return this.entry.decision;
  }

  /** @internal Not settled yet and its channel still open (its ack can still reach the broker). */
  get live(): boolean {
    return !this.entry.settled && this.entry.channel.isOpen;
  }

  private decide(outcome: Outcome): Outcome {
    this.entry.decision ??= outcome;
    return this.entry.decision;
  }
}

/** Whether a handler's result is to be awaited (a promise, or any object with a `then` method). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}

/**
 * A handler whose explicit outcome (returned, or made with the message's methods) is thrown, so that the
 * consumer's failure path (`outcomes.ts`) carries it out like any other non-ack.
 */
export function withOutcomes<T>(handler: (msg: ConsumeMessage<T>) => unknown): (msg: ConsumeMessage<T>) => unknown {
  // No extra promise per message for handlers that are synchronous: a sync throw reaches the consumer as one.
  return (msg) => {
    const result = handler(msg);
    if (isThenable(result)) {
      return Promise.resolve(result).then((r) => decided(msg, r));
    }
    decided(msg, result);
    return undefined;
  };
}

function decided<T>(msg: ConsumeMessage<T>, result: unknown): void {
  const outcome = result instanceof Outcome ? result : (msg as Partial<Message<T>>).decision;
  if (outcome !== undefined) throw outcome;
}
