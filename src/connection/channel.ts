import { EventEmitter } from 'node:events';
import { type InspectOptions, inspect } from 'node:util';
import { ContentAssembler, type ContentMessage } from '../protocol/content.js';
import {
  ChannelError,
  ConnectionError,
  type DecodeError,
  errorFromClose,
  ProtocolError,
  RpcTimeoutError,
  WarrenError,
} from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import { writeBasicAckFrame, writeMethodFrame, writePublish } from '../protocol/frame.js';
import {
  type BasicProperties,
  METHODS_BY_KEY,
  type Method,
  type MethodInputs,
  type MethodName,
  type MethodOf,
  methodKey,
} from '../protocol/spec.js';
import { AckCoalescer } from './ack-coalescer.js';
import { AckFlush } from './ack-flush.js';
import { ConfirmTracker, type PendingConfirm } from './confirm-tracker.js';
import type { FrameOutput } from './frame-output.js';
import { Lifecycle, type LifecycleState } from './lifecycle.js';
import { RpcQueue } from './rpc-queue.js';

/** What a channel needs from its connection. */
export interface ChannelHost {
  /** The frame writer of the connection, which its channels encode their frames into (an engine internal). */
  readonly output: FrameOutput;
  /** The connection's negotiated largest frame, in bytes: the channel splits message bodies into frames no larger. */
  readonly frameMax: number;
  /** Longest an in-order ack is held to be batched, in ms (the `ackDelay` connect option). */
  readonly ackDelay: number;
  /** Longest a synchronous method waits for its reply, in ms (the `rpcTimeoutMs` connect option). */
  readonly rpcTimeoutMs: number;
  /** The channel finished closing; its id may be reused. */
  releaseChannel(id: number): void;
  /**
   * The channel closed without the broker's channel.close-ok (a call timed out): the id must not be reused,
   * and frames still arriving for it are dropped, until the broker's close-ok (or close) for it arrives.
   */
  retireChannel(id: number): void;
  /** A protocol violation on this channel: the whole connection must close. */
  protocolError(err: ProtocolError): void;
}

/** A message delivered to a consumer. */
export interface Delivery {
  /** The tag of the consumer it was delivered to (what {@link Channel.basicConsume} resolved with). */
  consumerTag: string;
  /**
   * The number that names this delivery in {@link Channel.basicAck}, {@link Channel.basicNack} and
   * {@link Channel.basicReject}: assigned by the broker, counting up from 1 per channel, and only
   * meaningful on the channel that received it (it dies with the channel).
   */
  deliveryTag: number;
  /**
   * True when the broker delivered this message before (to this or another consumer) and it came back
   * unacknowledged (a nack or reject with requeue, a closed channel, a lost connection): it may already
   * have been processed, in part or whole.
   */
  redelivered: boolean;
  /** The exchange the message was published to; `""` for the default exchange. */
  exchange: string;
  /** The routing key the message was published with. */
  routingKey: string;
  /** The message's properties (content type, headers, message id...); `{}` when {@link decodeError} is set. */
  properties: BasicProperties;
  /** The message body, as published. */
  body: Buffer;
  /**
   * Set (a {@link DecodeError}, code `ERR_DECODE_PROPERTIES`, `cause` the decoder's ProtocolError) when the
   * content header could not be decoded: a header value of an unknown type, a table longer than its frame...
   * The message still arrives, with its raw `body` and `properties: {}`, so one bad message fails alone
   * instead of closing the connection (which would only bring it back, again and again). Such a message is
   * not what its sender meant: dead-letter it (nack without requeue) rather than process it. Undefined for
   * every message that decoded.
   *
   * @example
   * ```ts
   * ch.basicConsume({ queue: 'jobs' }, (d) => {
   *   if (d.decodeError) return ch.basicNack(d.deliveryTag, { requeue: false }); // to the dead-letter exchange
   *   handle(d);
   * });
   * ```
   */
  decodeError?: DecodeError;
}

/** A message fetched with basic.get. */
export interface GetMessage {
  /** {@inheritDoc Delivery.deliveryTag} */
  deliveryTag: number;
  /** {@inheritDoc Delivery.redelivered} */
  redelivered: boolean;
  /** {@inheritDoc Delivery.exchange} */
  exchange: string;
  /** {@inheritDoc Delivery.routingKey} */
  routingKey: string;
  /** Messages left in the queue. */
  messageCount: number;
  /** {@inheritDoc Delivery.properties} */
  properties: BasicProperties;
  /** {@inheritDoc Delivery.body} */
  body: Buffer;
  /** As {@link Delivery.decodeError}. */
  decodeError?: DecodeError;
}

/** A mandatory message the broker could not route, sent back with basic.return. */
export interface ReturnedMessage {
  /** Why the broker returned it: 312 NO_ROUTE (no queue is bound for it) in practice. */
  replyCode: number;
  /** The broker's text for `replyCode`, e.g. `"NO_ROUTE"`. */
  replyText: string;
  /** The exchange the message was published to; `""` for the default exchange. */
  exchange: string;
  /** The routing key it was published with. */
  routingKey: string;
  /** {@inheritDoc Delivery.properties} */
  properties: BasicProperties;
  /** The message body, as published. */
  body: Buffer;
  /** As {@link Delivery.decodeError}. */
  decodeError?: DecodeError;
}

/** Options of {@link Channel.basicPublish}. */
export interface PublishOptions {
  /**
   * The exchange to publish to. Default `""`, the default exchange, which routes a message to the queue
   * named by `routingKey`. Publishing to an exchange that does not exist closes the channel (404 NOT_FOUND).
   */
  exchange?: string;
  /** The routing key the exchange routes by (a queue name for the default exchange). Default `""`. */
  routingKey?: string;
  /** Return the message (basic.return) when no queue is bound for it. */
  mandatory?: boolean;
}

/** Options of {@link Channel.basicConsume}. */
export interface BasicConsumeOptions {
  /** The queue to consume from. A queue that does not exist fails the call with 404 NOT_FOUND. */
  queue: string;
  /**
   * Names the consumer on this channel; empty or absent: the broker makes one up. Reusing a tag still
   * in use on the channel is refused with 530 NOT_ALLOWED, which closes the connection.
   */
  consumerTag?: string;
  /**
   * Automatic acknowledgement: the broker counts each message as acknowledged as soon as it is sent,
   * so no basicAck is needed, prefetch does not apply, and a message in flight when the consumer or its
   * connection fails is lost. Default false.
   */
  noAck?: boolean;
  /**
   * Be the queue's only consumer: refused with 403 ACCESS_REFUSED when the queue already has a consumer,
   * and any other consumer is refused while this one lasts. Default false.
   */
  exclusive?: boolean;
  /** AMQP's "do not deliver my own connection's publishes"; RabbitMQ does not implement it. Default false. */
  noLocal?: boolean;
  /**
   * Consumer arguments, e.g. `{ 'x-priority': 10 }` (consumer priority) or `{ 'x-stream-offset': 'first' }`
   * (where a stream consumer starts). Default none.
   */
  arguments?: FieldTable;
}

/** Events a channel emits. A channel never emits `'error'`. */
export interface ChannelEvents {
  /** The channel closed; `error` is set unless the client closed it. */
  close: [error: ChannelError | ConnectionError | undefined];
  /** The broker returned an unroutable mandatory message. */
  return: [message: ReturnedMessage];
  /** The broker cancelled a consumer (queue deleted, node down...). */
  cancel: [consumerTag: string];
  /** channel.flow from the broker. */
  flow: [active: boolean];
  /** A consumer callback threw; the channel carries on. */
  consumerError: [error: unknown, delivery: Delivery];
}

type Settled = { multiple: boolean };
type MaybeOptions = boolean | Settled | undefined;
const RESOLVED = Promise.resolve();

function multipleOf(options: MaybeOptions): boolean {
  return typeof options === 'boolean' ? options : (options?.multiple ?? false);
}

/**
 * An AMQP channel. Synchronous methods are queued and answered in order; a channel exception rejects the
 * call with a {@link ChannelError} carrying the reply code and the failed method, and closes only this
 * channel. Never emits `'error'`: listen to `'close'`.
 *
 * How every synchronous method (the exchange, queue and tx methods, basicQos, basicConsume, basicGet...)
 * fails:
 * - the broker refuses it: a {@link ChannelError} with the broker's `replyCode`, `replyText` and
 *   `methodName` (404 NOT_FOUND, 406 PRECONDITION_FAILED, 403 ACCESS_REFUSED, 405 RESOURCE_LOCKED...);
 *   the broker has closed the channel, so open another one to carry on;
 * - the broker closes the whole connection over it (a connection exception such as 530 NOT_ALLOWED or
 *   503 COMMAND_INVALID): a {@link ConnectionError}, and every channel of the connection closes;
 * - no reply within the `rpcTimeoutMs` connect option: an {@link RpcTimeoutError}, and the channel is closed;
 * - the channel is not open: a ChannelError with code `ERR_CHANNEL_CLOSED` (`cause` why it closed), or
 *   the connection's ConnectionError when the connection closed it.
 *
 * @example
 * ```ts
 * const ch = await conn.createChannel();
 * await ch.queueDeclare({ queue: 'jobs', durable: true });
 * await ch.confirmSelect();
 * await ch.basicPublish({ routingKey: 'jobs' }, Buffer.from('hi'), { deliveryMode: 2 }); // resolves on the broker's ack
 * ```
 */
export class Channel extends EventEmitter<ChannelEvents> {
  private readonly lifecycle: Lifecycle;
  private readonly rpc: RpcQueue;
  private readonly assembler = new ContentAssembler();
  private readonly consumers = new Map<string, (delivery: Delivery) => void>();
  private confirms: ConfirmTracker | null = null;
  private closeError: ChannelError | ConnectionError | undefined;
  private closeWaiters: Array<{ resolve(): void; reject(err: Error): void }> = [];
  private closeTimer: NodeJS.Timeout | undefined;
  private flowIsActive = true;
  private readonly acks = new AckCoalescer();
  private readonly ackFlush: AckFlush;

  constructor(
    private readonly host: ChannelHost,
    /** The channel number on the connection. */
    readonly id: number,
  ) {
    super();
    this.lifecycle = new Lifecycle();
    this.ackFlush = new AckFlush(host.output, host.ackDelay, () => this.writeOwedAck());
    this.rpc = new RpcQueue(
      (name, args) => this.send(name, args as never),
      host.rpcTimeoutMs,
      `channel ${id}`,
      this.rpcTimedOut,
    );
  }

  /** What util.inspect / console.log show: the channel's state, not its connection (or its credentials). */
  [inspect.custom](_depth: number, options: InspectOptions, show: typeof inspect): string {
    return `Channel ${show(this.toJSON(), options)}`;
  }

  /** What JSON.stringify shows: the same summary as util.inspect. */
  toJSON(): Record<string, unknown> {
    return {
      id: this.id,
      state: this.lifecycle.state,
      confirmMode: this.confirms !== null,
      unconfirmed: this.confirms?.size ?? 0,
      consumers: [...this.consumers.keys()],
      flowActive: this.flowIsActive,
      error: this.closeError?.code,
    };
  }

  /** opening, open, closing or closed. */
  get state(): LifecycleState {
    return this.lifecycle.state;
  }

  /** True when the channel can be used. */
  get isOpen(): boolean {
    return this.lifecycle.state === 'open';
  }

  /** True after {@link confirmSelect}. */
  get confirmMode(): boolean {
    return this.confirms !== null;
  }

  /** Publishes sent in confirm mode and not yet acked or nacked. */
  get unconfirmed(): number {
    return this.confirms?.size ?? 0;
  }

  /** False while the broker has paused this channel with channel.flow. */
  get flowActive(): boolean {
    return this.flowIsActive;
  }

  /** Why the channel closed, once it has. */
  get error(): ChannelError | ConnectionError | undefined {
    return this.closeError;
  }

  /** @internal Sends channel.open; called by the connection. */
  async open(): Promise<this> {
    await this.rpc.call('channel.open', {}, ['channel.open-ok']);
    this.lifecycle.move('open');
    return this;
  }

  /**
   * Declares an exchange (exchange.declare): creates it if it does not exist, and otherwise checks that
   * the existing one has the same type, `durable`, `autoDelete`, `internal` and arguments, failing with
   * 406 PRECONDITION_FAILED when it does not. Declaring is idempotent.
   *
   * @param a.exchange - The exchange's name. Names starting with `amq.` are reserved (403 ACCESS_REFUSED).
   * @param a.type - `"direct"` (the default), `"fanout"`, `"topic"`, `"headers"`, or a plugin's type such
   *   as `"x-delayed-message"`; an unknown type closes the connection (503 COMMAND_INVALID).
   * @param a.passive - Only check that the exchange exists (404 NOT_FOUND when not); nothing is created or compared.
   * @param a.durable - Survive a broker restart. Default false.
   * @param a.autoDelete - Delete the exchange once its last binding is removed (after it had one). Default false.
   * @param a.internal - Clients cannot publish to it; it only receives messages through exchange-to-exchange
   *   bindings. Default false.
   * @param a.arguments - Optional arguments, e.g. `{ 'alternate-exchange': 'unrouted' }`.
   * @example
   * ```ts
   * await ch.exchangeDeclare({ exchange: 'orders', type: 'topic', durable: true });
   * ```
   */
  exchangeDeclare(a: {
    exchange: string;
    type?: string;
    passive?: boolean;
    durable?: boolean;
    autoDelete?: boolean;
    internal?: boolean;
    arguments?: FieldTable;
  }): Promise<void> {
    return this.call('exchange.declare', a, 'exchange.declare-ok');
  }

  /**
   * Deletes an exchange and its bindings (exchange.delete). RabbitMQ answers a delete of an exchange that
   * does not exist with success too.
   *
   * @param a.exchange - The exchange's name.
   * @param a.ifUnused - Delete only if it has no bindings; otherwise fail with 406 PRECONDITION_FAILED. Default false.
   */
  exchangeDelete(a: { exchange: string; ifUnused?: boolean }): Promise<void> {
    return this.call('exchange.delete', a, 'exchange.delete-ok');
  }

  /**
   * Binds an exchange to an exchange (exchange.bind, a RabbitMQ extension): messages that `source` routes
   * with `routingKey` / `arguments` are routed on by `destination` too. Binding is idempotent; either
   * exchange missing fails with 404 NOT_FOUND.
   *
   * @param a.destination - The exchange that receives the messages.
   * @param a.source - The exchange the messages are published to.
   * @param a.routingKey - The binding key, matched as the source's type says. Default `""`.
   * @param a.arguments - Binding arguments (for a headers exchange: the headers to match and `x-match`).
   */
  exchangeBind(a: { destination: string; source: string; routingKey?: string; arguments?: FieldTable }): Promise<void> {
    return this.call('exchange.bind', a, 'exchange.bind-ok');
  }

  /**
   * Removes an exchange-to-exchange binding made with {@link exchangeBind} (exchange.unbind). The
   * `routingKey` and `arguments` must be those it was bound with.
   *
   * @param a.destination - The exchange that received the messages.
   * @param a.source - The exchange they were published to.
   * @param a.routingKey - The binding key it was bound with. Default `""`.
   * @param a.arguments - The binding arguments it was bound with.
   */
  exchangeUnbind(a: {
    destination: string;
    source: string;
    routingKey?: string;
    arguments?: FieldTable;
  }): Promise<void> {
    return this.call('exchange.unbind', a, 'exchange.unbind-ok');
  }

  /**
   * Declares a queue (queue.declare): creates it if it does not exist, and otherwise checks that the
   * existing one has the same `durable`, `exclusive`, `autoDelete` and arguments such as `x-queue-type`,
   * failing with 406 PRECONDITION_FAILED when it does not. Declaring is idempotent.
   *
   * RabbitMQ 4 may deny a queue that is neither durable nor exclusive (deprecated feature
   * `transient_nonexcl_queues`): the connection then closes with a {@link DeprecatedFeatureError}.
   *
   * @param a.queue - The queue's name; `""` (the default) lets the broker make up a unique one (`amq.gen-...`).
   *   Names starting with `amq.` are reserved (403 ACCESS_REFUSED).
   * @param a.passive - Only check that the queue exists (404 NOT_FOUND when not) and read its counts.
   * @param a.durable - Survive a broker restart. Default false.
   * @param a.exclusive - Usable only by this connection, and deleted when it closes; other connections get
   *   405 RESOURCE_LOCKED. Default false.
   * @param a.autoDelete - Delete the queue once its last consumer is cancelled (after it had one). Default false.
   * @param a.arguments - Queue arguments: `x-queue-type` (`classic`, `quorum`, `stream`), `x-message-ttl`,
   *   `x-dead-letter-exchange`, `x-max-length`, `x-overflow`...
   * @returns The queue's name and counts at the time of the declare.
   * @example
   * ```ts
   * const { queue } = await ch.queueDeclare({ queue: '', exclusive: true }); // a private reply queue
   * const { messageCount } = await ch.queueDeclare({ queue: 'jobs', passive: true });
   * ```
   */
  async queueDeclare(a: {
    queue?: string;
    passive?: boolean;
    durable?: boolean;
    exclusive?: boolean;
    autoDelete?: boolean;
    arguments?: FieldTable;
  }): Promise<{
    /** The queue's name: the one given, or the one the broker made up for `queue: ""`. */
    queue: string;
    /** Messages ready for delivery in the queue (those delivered and not yet acknowledged are not counted). */
    messageCount: number;
    /** Consumers subscribed to the queue. */
    consumerCount: number;
  }> {
    const ok = await this.call<'queue.declare', MethodOf<'queue.declare-ok'>>('queue.declare', a, 'queue.declare-ok');
    return { queue: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount };
  }

  /**
   * Binds a queue to an exchange (queue.bind): messages the exchange routes with `routingKey` /
   * `arguments` go to the queue. Binding is idempotent; a missing queue or exchange fails with 404
   * NOT_FOUND, and the default exchange cannot be bound to (403 ACCESS_REFUSED).
   *
   * @param a.queue - The queue that receives the messages.
   * @param a.exchange - The exchange the messages are published to.
   * @param a.routingKey - The binding key, matched as the exchange's type says (ignored by fanout and
   *   headers exchanges). Default `""`.
   * @param a.arguments - Binding arguments (for a headers exchange: the headers to match and `x-match`).
   * @example
   * ```ts
   * await ch.queueBind({ queue: 'orders.created', exchange: 'orders', routingKey: 'order.created' });
   * ```
   */
  queueBind(a: { queue: string; exchange: string; routingKey?: string; arguments?: FieldTable }): Promise<void> {
    return this.call('queue.bind', a, 'queue.bind-ok');
  }

  /**
   * Removes a binding made with {@link queueBind} (queue.unbind). The `routingKey` and `arguments` must be
   * those it was bound with.
   *
   * @param a.queue - The bound queue.
   * @param a.exchange - The exchange it is bound to.
   * @param a.routingKey - The binding key it was bound with. Default `""`.
   * @param a.arguments - The binding arguments it was bound with.
   */
  queueUnbind(a: { queue: string; exchange: string; routingKey?: string; arguments?: FieldTable }): Promise<void> {
    return this.call('queue.unbind', a, 'queue.unbind-ok');
  }

  /**
   * Removes every message ready in a queue (queue.purge); messages delivered and not yet acknowledged
   * stay. A missing queue fails with 404 NOT_FOUND.
   *
   * @param a.queue - The queue to purge.
   */
  async queuePurge(a: { queue: string }): Promise<{
    /** How many messages were removed. */
    messageCount: number;
  }> {
    const ok = await this.call<'queue.purge', MethodOf<'queue.purge-ok'>>('queue.purge', a, 'queue.purge-ok');
    return { messageCount: ok.messageCount };
  }

  /**
   * Deletes a queue, its bindings and its messages (queue.delete); its consumers are cancelled (they get
   * a `'cancel'` event). RabbitMQ answers a delete of a queue that does not exist with success too.
   *
   * @param a.queue - The queue to delete.
   * @param a.ifUnused - Delete only if it has no consumers; otherwise fail with 406 PRECONDITION_FAILED. Default false.
   * @param a.ifEmpty - Delete only if it has no messages; otherwise fail with 406 PRECONDITION_FAILED. Default false.
   */
  async queueDelete(a: { queue: string; ifUnused?: boolean; ifEmpty?: boolean }): Promise<{
    /** How many messages were deleted with the queue. */
    messageCount: number;
  }> {
    const ok = await this.call<'queue.delete', MethodOf<'queue.delete-ok'>>('queue.delete', a, 'queue.delete-ok');
    return { messageCount: ok.messageCount };
  }

  /**
   * Limits unacknowledged deliveries per consumer (basic.qos): the broker stops delivering to a consumer
   * holding `prefetchCount` unacknowledged messages until some are settled. Applies to consumers started
   * on this channel after the call; `noAck` consumers are not limited.
   *
   * `global: true` is refused with `ERR_GLOBAL_QOS`, before anything is sent: RabbitMQ deprecated global
   * qos and 4.3 denies it.
   *
   * @param a.prefetchCount - Most unacknowledged messages per consumer; 0 (the default) means no limit.
   * @param a.prefetchSize - Most unacknowledged bytes. RabbitMQ does not implement it: leave it 0 (a non-zero
   *   value closes the connection with 540 NOT_IMPLEMENTED).
   * @example
   * ```ts
   * await ch.basicQos({ prefetchCount: 50 });
   * ```
   */
  async basicQos(a: { prefetchCount?: number; prefetchSize?: number; global?: false }): Promise<void> {
    if ((a as { global?: boolean }).global === true) {
      // RabbitMQ gives `global` its own meaning (per channel, not per connection), deprecated it as the
      // feature global_qos, and 4.3 denies it by default: refused here, before anything is sent.
      throw new WarrenError(
        'basic.qos global: true is not supported: RabbitMQ deprecated it (feature global_qos, denied by default from 4.3); set a per-consumer prefetchCount instead',
        { code: 'ERR_GLOBAL_QOS', recoverable: false, methodName: 'basic.qos' },
      );
    }
    await this.call('basic.qos', { ...a, global: false }, 'basic.qos-ok');
    this.ackFlush.prefetchSet(a.prefetchCount ?? 0);
  }

  /**
   * Puts the channel in confirm mode (confirm.select): from now on {@link basicPublish} resolves on the
   * broker's ack and rejects on its nack. Idempotent; a channel in confirm mode cannot also be
   * transactional (406 PRECONDITION_FAILED).
   */
  async confirmSelect(): Promise<void> {
    if (this.lifecycle.state !== 'open') throw this.notOpen('confirm.select');
    if (this.confirms) return;
    await this.rpc.call('confirm.select', {}, ['confirm.select-ok'], () => {
      this.confirms = new ConfirmTracker();
    });
  }

  /**
   * Makes the channel transactional (tx.select): publishes and acks are held by the broker until
   * {@link txCommit} (or dropped by {@link txRollback}). A channel in confirm mode cannot be made
   * transactional (406 PRECONDITION_FAILED).
   */
  txSelect(): Promise<void> {
    return this.call('tx.select', {}, 'tx.select-ok');
  }

  /**
   * Commits the current transaction (tx.commit): the publishes and acks made since {@link txSelect} or the
   * last commit or rollback take effect; a new transaction starts at once. Fails with 406
   * PRECONDITION_FAILED when the channel is not transactional.
   */
  txCommit(): Promise<void> {
    return this.call('tx.commit', {}, 'tx.commit-ok');
  }

  /**
   * Abandons the current transaction (tx.rollback): its publishes and acks are discarded (messages
   * already delivered are not redelivered by it); a new transaction starts at once. Fails with 406
   * PRECONDITION_FAILED when the channel is not transactional.
   */
  txRollback(): Promise<void> {
    return this.call('tx.rollback', {}, 'tx.rollback-ok');
  }

  /**
   * Asks the broker to redeliver every message delivered on this channel and not yet acknowledged
   * (basic.recover); they come again with `redelivered: true`, possibly to other consumers.
   *
   * @param a.requeue - `true` (the default) requeues them. RabbitMQ implements only `true`: `false` closes the
   *   connection with 540 NOT_IMPLEMENTED.
   */
  basicRecover(a: { requeue?: boolean } = {}): Promise<void> {
    this.acks.disable();
    return this.call('basic.recover', { requeue: a.requeue ?? true }, 'basic.recover-ok');
  }

  /**
   * Publishes a message. The method, header and body frames are encoded into the connection's output
   * buffer at once (call order is wire order) and written with the rest of this tick's frames.
   *
   * Resolves: in confirm mode when the broker acks; otherwise once written, after waiting for the socket
   * to drain if its buffer is full. Rejects on nack (code `ERR_PUBLISH_NACKED`) and when the channel closes
   * before the ack. A `mandatory` message that cannot be routed comes back as a `'return'` event.
   */
  basicPublish(options: PublishOptions, body: Uint8Array | string, properties: BasicProperties = {}): Promise<void> {
    const confirms = this.confirms;
    if (confirms !== null) {
      return new Promise<void>((resolve, reject) => {
        try {
          this.publishConfirmed(options, body, properties, { resolve, reject });
        } catch (err) {
          reject(err);
        }
      });
    }
    try {
      this.encodePublish(options, body, properties);
    } catch (err) {
      return Promise.reject(err);
    }
    const output = this.host.output;
    return output.needsDrain ? output.waitForDrain() : RESOLVED;
  }

  /**
   * Publishes in confirm mode and reports the outcome to `pending` instead of through a promise: the
   * broker's ack calls `pending.resolve()`; a nack, or the channel closing first, `pending.reject(err)`
   * (synchronously, as the channel closes). For layers that track their own messages and want no
   * per-message promise. Throws at once (nothing sent) when the channel is not open or not in confirm
   * mode, or the message cannot be encoded.
   */
  publishConfirmed(
    options: PublishOptions,
    body: Uint8Array | string,
    properties: BasicProperties,
    pending: PendingConfirm,
  ): void {
    const confirms = this.confirms;
    if (confirms === null) {
      throw new ChannelError(`publishConfirmed: channel ${this.id} is not in confirm mode`, {
        code: 'ERR_NOT_CONFIRM_MODE',
        recoverable: false,
      });
    }
    this.encodePublish(options, body, properties);
    confirms.add(pending);
  }

  private encodePublish(options: PublishOptions, body: Uint8Array | string, properties: BasicProperties): void {
    if (this.lifecycle.state !== 'open') throw this.notOpen('basic.publish');
    this.writeOwedAck();
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const output = this.host.output;
    const chunks = writePublish(output.writer, this.id, options, properties, bytes, this.host.frameMax);
    if (chunks === null) output.flushSoon();
    else output.writeChunks(chunks);
  }

  /**
   * Starts a consumer (basic.consume); `onMessage` runs synchronously for each delivery, in order. Unless
   * `noAck`, settle each delivery with {@link basicAck}, {@link basicNack} or {@link basicReject}: the
   * broker sends no more than the prefetch ({@link basicQos}) allows while deliveries are unsettled. A
   * callback that throws is reported as a `'consumerError'` event (or a process warning) and the channel
   * carries on. The broker may cancel the consumer (its queue deleted...): a `'cancel'` event.
   * @returns the consumer tag (made up by the broker when not given).
   * @example
   * ```ts
   * await ch.basicQos({ prefetchCount: 10 });
   * const { consumerTag } = await ch.basicConsume({ queue: 'jobs' }, (d) => {
   *   handle(d.body);
   *   ch.basicAck(d.deliveryTag);
   * });
   * ```
   */
  basicConsume(
    options: BasicConsumeOptions,
    onMessage: (delivery: Delivery) => void,
  ): Promise<{
    /** The consumer's tag: pass it to {@link basicCancel}; each {@link Delivery} carries it. */
    consumerTag: string;
  }> {
    if (this.lifecycle.state !== 'open') return Promise.reject(this.notOpen('basic.consume'));
    if (options.noAck) this.acks.disable();
    const given = options.consumerTag ?? '';
    return this.rpc
      .call<'basic.consume', { consumerTag: string }>(
        'basic.consume',
        { ...options, consumerTag: given },
        ['basic.consume-ok'],
        (ok) => {
          this.consumers.set(ok.consumerTag, onMessage);
        },
      )
      .then((ok) => ({ consumerTag: ok.consumerTag }));
  }

  /** Stops a consumer. Deliveries already sent still reach its callback until the broker confirms. */
  async basicCancel(consumerTag: string): Promise<void> {
    if (this.lifecycle.state !== 'open') throw this.notOpen('basic.cancel');
    await this.rpc.call('basic.cancel', { consumerTag }, ['basic.cancel-ok']);
    this.consumers.delete(consumerTag);
  }

  /** Fetches one message, or null when the queue is empty. */
  async basicGet(a: { queue: string; noAck?: boolean }): Promise<GetMessage | null> {
    if (this.lifecycle.state !== 'open') throw this.notOpen('basic.get');
    if (a.noAck) this.acks.disable();
    const reply = await this.rpc.call<'basic.get', ContentMessage<MethodOf<'basic.get-ok'>> | null>('basic.get', a, [
      'basic.get-ok',
      'basic.get-empty',
    ]);
    if (reply === null) return null;
    const m = reply.method;
    return {
      deliveryTag: m.deliveryTag,
      redelivered: m.redelivered,
      exchange: m.exchange,
      routingKey: m.routingKey,
      messageCount: m.messageCount,
      properties: reply.properties,
      body: reply.body,
      decodeError: reply.decodeError,
    };
  }

  /**
   * Acknowledges a delivery (`multiple`: and all earlier ones). Returns false, sending nothing, when the
   * channel is no longer open: its delivery tags died with it.
   *
   * In-order acks are batched into one `multiple` ack: written within the `ackDelay` connect option
   * (default 5 ms), with this tick's frames once half the channel's prefetch window is owed, and always
   * before any later frame of the channel and before the channel or its connection closes. Out-of-order
   * acks are written as they come.
   */
  basicAck(deliveryTag: number, options?: MaybeOptions): boolean {
    if (this.lifecycle.state !== 'open') return false;
    const multiple = multipleOf(options);
    if (!multiple && this.acks.absorb(deliveryTag)) {
      this.ackFlush.schedule(this.acks.owed);
      return true;
    }
    this.writeOwedAck();
    const output = this.host.output;
    writeBasicAckFrame(output.writer, this.id, deliveryTag, multiple);
    output.flushSoon();
    this.acks.settled(deliveryTag, multiple);
    return true;
  }

  /** Negatively acknowledges; `requeue` defaults to true. Returns false when the channel is not open. */
  basicNack(
    deliveryTag: number,
    options?: MaybeOptions | { multiple?: boolean; requeue?: boolean },
    requeue?: boolean,
  ): boolean {
    const o = typeof options === 'object' ? (options as { requeue?: boolean }) : undefined;
    const multiple = multipleOf(options as MaybeOptions);
    if (!this.sendIfOpen('basic.nack', { deliveryTag, multiple, requeue: requeue ?? o?.requeue ?? true })) return false;
    this.acks.settled(deliveryTag, multiple);
    return true;
  }

  /** Rejects one delivery; `requeue` defaults to true. Returns false when the channel is not open. */
  basicReject(deliveryTag: number, options?: boolean | { requeue?: boolean }): boolean {
    const requeue = typeof options === 'boolean' ? options : (options?.requeue ?? true);
    if (!this.sendIfOpen('basic.reject', { deliveryTag, requeue })) return false;
    this.acks.settled(deliveryTag, false);
    return true;
  }

  /**
   * Closes the channel; resolves when the broker confirmed. Idempotent. When the broker does not answer
   * within the `rpcTimeoutMs` connect option, the channel is closed anyway (its id is not reused until the
   * broker's answer arrives) and this rejects with an {@link RpcTimeoutError}.
   */
  async close(): Promise<void> {
    const state = this.lifecycle.state;
    if (state === 'closed') return;
    if (state === 'closing') return this.waitClosed();
    this.writeOwedAck(); // while still open: acks asked for before close() must go out
    this.lifecycle.move('closing');
    try {
      this.send('channel.close', { replyCode: 200, replyText: 'closed by client', classId: 0, methodId: 0 });
    } catch {
      // The connection is gone; finishing locally is all that is left.
    }
    if (this.lifecycle.state === 'closing') {
      this.closeTimer = setTimeout(this.closeTimedOut, this.host.rpcTimeoutMs);
    }
    return this.waitClosed();
  }

  // After sending channel.close, only close and close-ok matter (spec 2.3.5.2): the frame handlers below
  // drop everything else while closing. Each throws ProtocolError on a violation.

  /** @internal A method frame for this channel. */
  onMethodFrame(m: Method): void {
    if (this.lifecycle.state === 'closing') {
      this.onClosingMethod(m);
      return;
    }
    if (m.name === 'basic.deliver' || m.name === 'basic.return' || m.name === 'basic.get-ok') {
      this.assembler.start(m);
      return;
    }
    if (this.assembler.busy) {
      throw new ProtocolError(505, `${m.name} arrived on channel ${this.id} while message content was incomplete`);
    }
    this.onMethod(m);
  }

  /** @internal A content header frame for this channel. */
  onHeaderFrame(bodySize: number, properties: BasicProperties, decodeError?: DecodeError): void {
    if (this.lifecycle.state === 'closing') return;
    const message = this.assembler.header(bodySize, properties, decodeError);
    if (message !== null) this.onContent(message);
  }

  /** @internal Body bytes for this channel: a whole body frame, or a part of one split across reads. */
  onBodyFrame(payload: Buffer): void {
    if (this.lifecycle.state === 'closing') return;
    const message = this.assembler.body(payload);
    if (message !== null) this.onContent(message);
  }

  /** @internal Where the next `n` body bytes of the message being received can be read in place. */
  bodyTarget(n: number): Buffer | undefined {
    if (this.lifecycle.state !== 'open') return undefined;
    return this.assembler.target(n) ?? undefined;
  }

  /** @internal `n` body bytes were read into the view {@link bodyTarget} returned last. */
  onBodyPlaced(n: number): void {
    if (this.lifecycle.state === 'closing') return;
    const message = this.assembler.placed(n);
    if (message !== null) this.onContent(message);
  }

  /** @internal Writes any ack still owed now (the connection is about to send connection.close). */
  flushOwedAck(): void {
    this.writeOwedAck();
  }

  /** @internal The connection closed: fail everything with `err`. */
  connectionClosed(err: ConnectionError): void {
    // Same class and fields as the connection's error (a CloseTimeoutError stays one, a refused
    // deprecated feature keeps its feature), so callers can tell why.
    this.finish(err.seenBy(`channel ${this.id} closed because its connection closed: ${err.message}`));
  }

  private call<N extends MethodName, R = void>(name: N, args: MethodInputs[N], reply: MethodName): Promise<R> {
    if (this.lifecycle.state !== 'open') return Promise.reject(this.notOpen(name));
    return this.rpc.call<N, R>(name, args, [reply]);
  }

  private send<N extends MethodName>(name: N, args: MethodInputs[N]): void {
    // An ack owed from this tick goes first, so frames keep the order in which they were asked for.
    this.writeOwedAck();
    writeMethodFrame(this.host.output.writer, this.id, name, args, this.host.frameMax);
    this.host.output.flushSoon();
  }

  /** Writes the coalesced ack owed, if any. */
  private writeOwedAck(): void {
    this.ackFlush.written();
    const owed = this.acks.take();
    if (owed === null || this.lifecycle.state !== 'open') return;
    writeBasicAckFrame(this.host.output.writer, this.id, owed.tag, owed.multiple);
    this.host.output.flushSoon();
  }

  private dropOwedAcks(): void {
    this.acks.reset();
    this.ackFlush.cancel();
  }

  private sendIfOpen<N extends MethodName>(name: N, args: MethodInputs[N]): boolean {
    if (this.lifecycle.state !== 'open') return false;
    this.send(name, args);
    return true;
  }

  private onMethod(m: Method): void {
    switch (m.name) {
      case 'basic.ack':
        this.requireConfirms(m.name).settle(m.deliveryTag, m.multiple);
        return;
      case 'basic.nack':
        this.requireConfirms(m.name).settle(
          m.deliveryTag,
          m.multiple,
          new ChannelError(`broker nacked publish ${m.deliveryTag}`, { code: 'ERR_PUBLISH_NACKED', recoverable: true }),
        );
        return;
      case 'basic.cancel':
        this.consumers.delete(m.consumerTag);
        if (!m.nowait) this.send('basic.cancel-ok', { consumerTag: m.consumerTag });
        this.emit('cancel', m.consumerTag);
        return;
      case 'channel.flow':
        this.flowIsActive = m.active;
        this.send('channel.flow-ok', { active: m.active });
        this.emit('flow', m.active);
        return;
      case 'channel.close':
        // The broker ignores everything but close-ok now: owed acks would only be noise (the tags died).
        this.dropOwedAcks();
        this.send('channel.close-ok', {});
        this.finish(errorFromClose('channel', m, methodNameOf(m.classId, m.methodId)) as ChannelError);
        return;
      case 'basic.get-empty':
        if (this.rpc.reply(m.name, null)) return;
        break;
      default:
        if (this.rpc.reply(m.name, m)) return;
    }
    const awaiting = this.rpc.awaiting;
    throw new ProtocolError(
      505,
      `unexpected ${m.name} on channel ${this.id}${awaiting.length ? ` (awaiting ${awaiting.join(' or ')})` : ''}`,
    );
  }

  private onClosingMethod(m: Method): void {
    if (m.name === 'channel.close-ok') {
      this.finish(undefined);
    } else if (m.name === 'channel.close') {
      // Both sides closed at once: answer, and finish with the broker's reason.
      this.send('channel.close-ok', {});
      this.finish(errorFromClose('channel', m, methodNameOf(m.classId, m.methodId)) as ChannelError);
    }
  }

  private onContent(message: ContentMessage): void {
    const m = message.method;
    if (m.name === 'basic.deliver') {
      const delivery: Delivery = {
        consumerTag: m.consumerTag,
        deliveryTag: m.deliveryTag,
        redelivered: m.redelivered,
        exchange: m.exchange,
        routingKey: m.routingKey,
        properties: message.properties,
        body: message.body,
        decodeError: message.decodeError,
      };
      const consumer = this.consumers.get(m.consumerTag);
      if (consumer === undefined) {
        // Not ours to handle (a consumer we no longer know): give it back rather than leave it unacked.
        this.send('basic.reject', { deliveryTag: m.deliveryTag, requeue: true });
        this.acks.settled(m.deliveryTag, false);
        return;
      }
      try {
        consumer(delivery);
      } catch (err) {
        if (this.listenerCount('consumerError') > 0) this.emit('consumerError', err, delivery);
        else process.emitWarning(`warren: consumer ${m.consumerTag} threw: ${(err as Error)?.message ?? err}`);
      }
    } else if (m.name === 'basic.return') {
      this.emit('return', {
        replyCode: m.replyCode,
        replyText: m.replyText,
        exchange: m.exchange,
        routingKey: m.routingKey,
        properties: message.properties,
        body: message.body,
        decodeError: message.decodeError,
      });
    } else if (!this.rpc.reply(m.name, message)) {
      throw new ProtocolError(505, `unexpected ${m.name} on channel ${this.id}`);
    }
  }

  private requireConfirms(name: string): ConfirmTracker {
    if (this.confirms === null)
      throw new ProtocolError(503, `${name} on channel ${this.id}, which is not in confirm mode`);
    return this.confirms;
  }

  private notOpen(what: string): ChannelError | ConnectionError {
    if (this.closeError instanceof ConnectionError) return this.closeError;
    return new ChannelError(`cannot ${what}: channel ${this.id} is ${this.lifecycle.state}`, {
      code: 'ERR_CHANNEL_CLOSED',
      cause: this.closeError,
      recoverable: true,
    });
  }

  private waitClosed(): Promise<void> {
    if (this.lifecycle.state === 'closed') return RESOLVED;
    return new Promise((resolve, reject) => this.closeWaiters.push({ resolve, reject }));
  }

  /** A synchronous method got no reply in time: the channel cannot tell a late reply from the next one. */
  private readonly rpcTimedOut = (err: RpcTimeoutError): void => {
    const state = this.lifecycle.state;
    if (state === 'closed') return;
    if (state !== 'closing') {
      this.writeOwedAck(); // the deliveries they settle were handled; the broker takes them before channel.close
      try {
        this.send('channel.close', {
          replyCode: 200,
          replyText: `closed by client: ${err.methodName} got no reply`,
          classId: 0,
          methodId: 0,
        });
      } catch {
        // The connection is gone; it releases the id itself.
      }
    }
    this.finish(err, true);
  };

  /** channel.close got no close-ok in time. */
  private readonly closeTimedOut = (): void => {
    this.closeTimer = undefined;
    this.finish(new RpcTimeoutError('channel.close', this.host.rpcTimeoutMs, `channel ${this.id}`), true);
  };

  /**
   * The one way a channel ends: settle everything, release the id, tell listeners. `retire`: the broker has
   * not confirmed the close, so the id stays reserved (see {@link ChannelHost.retireChannel}).
   */
  private finish(err: ChannelError | ConnectionError | undefined, retire = false): void {
    if (!this.lifecycle.move('closed')) return;
    clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.closeError = err;
    const failure =
      err ??
      new ChannelError(`channel ${this.id} was closed by the client`, {
        code: 'ERR_CHANNEL_CLOSED',
        recoverable: false,
      });
    this.rpc.failAll(failure);
    this.confirms?.failAll(failure);
    this.assembler.reset();
    this.dropOwedAcks();
    this.consumers.clear();
    if (retire) this.host.retireChannel(this.id);
    else this.host.releaseChannel(this.id);
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    // close() resolves once the channel is closed, unless its own channel.close timed out.
    const closeFailed = err instanceof RpcTimeoutError && err.methodName === 'channel.close';
    for (const w of waiters) {
      if (closeFailed) w.reject(err);
      else w.resolve();
    }
    this.emit('close', err);
  }
}

/** The name of a method from its ids, as reported in close methods (undefined for 0/0). */
export function methodNameOf(classId: number, methodId: number): string | undefined {
  return METHODS_BY_KEY.get(methodKey(classId, methodId))?.name;
}
