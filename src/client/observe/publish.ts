/**
 * Publishing as the diagnostics channels see it: one {@link PublishEvent} per message handed to the
 * buffer, published on `warren:publish` before the message is written (so subscribers can add headers),
 * and again on the channel of its outcome once `publishMessage` settles.
 * @module
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { BasicProperties } from '../../protocol/spec.js';
import { PublishNackedError, UnroutableError } from '../errors.js';
import type { OutgoingMessage } from '../publish/entry.js';
import type { EventSink } from '../session/types.js';
import {
  type ClientInfo,
  type HeaderValue,
  type PublishEvent,
  publishChannel,
  publishConfirmChannel,
  publishErrorChannel,
  publishNackChannel,
  publishReturnChannel,
} from './channels.js';
import { countersOfSink } from './client.js';

const NO_CLIENT: ClientInfo = Object.freeze({ id: 0, serverAddress: undefined, serverPort: undefined });

/** Whether anyone listens to publishing at all: then {@link observePublish} must be used. */
export function publishObserved(): boolean {
  return (
    publishChannel.hasSubscribers ||
    publishConfirmChannel.hasSubscribers ||
    publishNackChannel.hasSubscribers ||
    publishReturnChannel.hasSubscribers ||
    publishErrorChannel.hasSubscribers
  );
}

class Published implements PublishEvent {
  readonly startedAt = performance.now();
  durationMs = 0;
  error: unknown = undefined;
  private open = true;
  private copied = false;

  constructor(
    readonly client: ClientInfo,
    private readonly message: OutgoingMessage,
  ) {}

  get exchange(): string {
    return this.message.exchange;
  }
  get routingKey(): string {
    return this.message.routingKey;
  }
  get mandatory(): boolean {
    return this.message.mandatory;
  }
  get properties(): Readonly<BasicProperties> {
    return this.message.properties;
  }
  get bodySize(): number {
    return this.message.body.length;
  }

  setHeader(name: string, value: HeaderValue): void {
    if (!this.open) throw new TypeError('PublishEvent.setHeader: only during the warren:publish event');
    const p = this.message.properties;
    // The headers object may be the caller's own (options.headers): the message gets a copy instead.
    if (!this.copied) {
      p.headers = { ...p.headers } as FieldTable;
      this.copied = true;
    }
    p.headers![name] = value;
  }

  /** Publishes the start, then hands the message over; the outcome is published when it settles. */
  run(hand: (m: OutgoingMessage) => Promise<void>): Promise<void> {
    if (publishChannel.hasSubscribers) publishChannel.publish(this);
    this.open = false;
    const p = hand(this.message);
    p.then(this.confirmed, this.failed);
    return p;
  }

  private readonly confirmed = (): void => {
    this.durationMs = performance.now() - this.startedAt;
    if (publishConfirmChannel.hasSubscribers) publishConfirmChannel.publish(this);
  };

  private readonly failed = (err: unknown): void => {
    this.durationMs = performance.now() - this.startedAt;
    this.error = err;
    const ch =
      err instanceof UnroutableError
        ? publishReturnChannel
        : err instanceof PublishNackedError
          ? publishNackChannel
          : publishErrorChannel;
    if (ch.hasSubscribers) ch.publish(this);
  };
}

/**
 * Hands `message` to `hand` (the publisher) with its events around it; call only when
 * {@link publishObserved}. Returns the publisher's own promise: its outcome is the caller's.
 */
export function observePublish(
  sink: EventSink,
  message: OutgoingMessage,
  hand: (m: OutgoingMessage) => Promise<void>,
): Promise<void> {
  return new Published(countersOfSink(sink)?.client ?? NO_CLIENT, message).run(hand);
}
