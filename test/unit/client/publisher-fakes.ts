/**
 * A stand-in for a confirm-mode Channel, for Publisher unit tests: no broker, every confirm, return and
 * close under the test's control. It keeps its pending confirms in the real ConfirmTracker, so what it
 * holds on to (and lets go of) is what a real channel holds; it keeps no message bodies.
 */
import { EventEmitter } from 'node:events';
import { type OutgoingMessage, type PublishBufferOptions, Publisher } from '../../../src/client/publisher.js';
import type { Channel, PublishOptions, ReturnedMessage } from '../../../src/connection/channel.js';
import { ConfirmTracker, type PendingConfirm } from '../../../src/connection/confirm-tracker.js';
import { ChannelError } from '../../../src/protocol/errors.js';
import type { BasicProperties } from '../../../src/protocol/spec.js';

/** What the fake channel remembers of one publish (no body). */
export interface Written {
  tag: number;
  id: string;
  exchange: string;
  routingKey: string;
  bytes: number;
  userId: string | undefined;
}

export class FakeConfirmChannel extends EventEmitter {
  isOpen = true;
  readonly written: Written[] = [];
  private readonly confirms = new ConfirmTracker();

  publishConfirmed(
    options: PublishOptions,
    body: Uint8Array | string,
    properties: BasicProperties,
    pending: PendingConfirm,
  ): void {
    if (!this.isOpen) throw new ChannelError('cannot basic.publish: channel is closed', { code: 'ERR_CHANNEL_CLOSED' });
    const tag = this.confirms.add(pending);
    this.written.push({
      tag,
      id: String(properties.messageId),
      exchange: options.exchange ?? '',
      routingKey: options.routingKey ?? '',
      bytes: body.length,
      userId: properties.userId,
    });
  }

  /** messageIds in write order. */
  get ids(): string[] {
    return this.written.map((w) => w.id);
  }

  /** Publishes not yet acked or nacked. */
  get unconfirmed(): number {
    return this.confirms.size;
  }

  /** The delivery tag of the (last) write of `id`. */
  tagOf(id: string): number {
    for (let i = this.written.length - 1; i >= 0; i--) if (this.written[i]!.id === id) return this.written[i]!.tag;
    throw new Error(`${id} was not written on this channel (written: ${this.ids.join(', ')})`);
  }

  ack(idOrTag: string | number, multiple = false): void {
    this.confirms.settle(typeof idOrTag === 'number' ? idOrTag : this.tagOf(idOrTag), multiple);
  }

  nack(idOrTag: string | number): void {
    const tag = typeof idOrTag === 'number' ? idOrTag : this.tagOf(idOrTag);
    this.confirms.settle(tag, false, new ChannelError(`broker nacked publish ${tag}`, { code: 'ERR_PUBLISH_NACKED' }));
  }

  /** Acks every write not yet settled. */
  ackAll(): void {
    if (this.written.length > 0) this.confirms.settle(this.written[this.written.length - 1]!.tag, true);
  }

  /** basic.return of a write (the broker sends it before that write's ack). */
  returnOf(w: Written, body: Buffer, replyCode = 312): void {
    const returned: ReturnedMessage = {
      replyCode,
      replyText: 'NO_ROUTE',
      exchange: w.exchange,
      routingKey: w.routingKey,
      properties: { messageId: w.id },
      body,
    };
    this.emit('return', returned);
  }

  /** The channel closes as a real one does: unconfirmed publishes fail first, then 'close' is emitted. */
  close(err: Error = new ChannelError('channel closed', { code: 'ERR_CHANNEL_CLOSED' })): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.confirms.failAll(err);
    this.emit('close', err);
  }

  asChannel(): Channel {
    return this as unknown as Channel;
  }
}

/** A channel close as the broker sends it for a publish (basic.publish, class 60 method 40). */
export function brokerClose(replyCode: number, replyText: string): ChannelError {
  return new ChannelError(`channel closed by the broker: ${replyCode} - ${replyText} (on basic.publish)`, {
    replyCode,
    replyText,
    classId: 60,
    methodId: 40,
    methodName: 'basic.publish',
  });
}

export function message(id: string, o: Partial<OutgoingMessage> & { bytes?: number } = {}): OutgoingMessage {
  return {
    exchange: o.exchange ?? '',
    routingKey: o.routingKey ?? 'q',
    mandatory: o.mandatory ?? true,
    body: o.body ?? Buffer.alloc(o.bytes ?? 10, 1),
    properties: o.properties ?? { messageId: id },
  };
}

export interface Outcome {
  state: 'pending' | 'resolved' | 'rejected';
  error?: Error;
  /** How many times the promise callbacks ran (must never exceed 1). */
  settlements: number;
}

/** Publishes and records how the promise settles. */
export function track(p: Publisher, m: OutgoingMessage): Outcome {
  const t: Outcome = { state: 'pending', settlements: 0 };
  p.publish(m).then(
    () => {
      t.state = 'resolved';
      t.settlements++;
    },
    (err: Error) => {
      t.state = 'rejected';
      t.error = err;
      t.settlements++;
    },
  );
  return t;
}

/** Lets every pending promise callback run. */
export function flush(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * A publisher wired the way the client wires it: when its channel closes, the owner detaches it and
 * attaches a fresh channel (returned by `next()`).
 */
export function ownedPublisher(options: PublishBufferOptions = {}): {
  p: Publisher;
  channels: FakeConfirmChannel[];
  current(): FakeConfirmChannel;
} {
  const p = new Publisher(options);
  const channels: FakeConfirmChannel[] = [];
  const open = () => {
    const ch = new FakeConfirmChannel();
    channels.push(ch);
    ch.on('close', (err: Error) => {
      p.detach(err);
      open();
    });
    p.attach(ch.asChannel());
  };
  open();
  return { p, channels, current: () => channels[channels.length - 1]! };
}
