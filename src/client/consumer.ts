/**
 * Safe consumers: {@link consume} subscribes a handler to a queue and settles every message for it.
 *
 * - The handler resolves → the message is acked.
 * - The handler throws (or exceeds `handlerTimeoutMs`) → while attempts remain, the message is published
 *   to a **retry queue** `<queue>.retry.<delayMs>` (declared automatically: `x-message-ttl` = the delay,
 *   dead-lettering back to `<queue>` through the default exchange) with `x-warren-attempt` = attempt + 1,
 *   and the original is acked only once the broker confirmed that copy. The broker holds the schedule, so
 *   a restart loses nothing. When attempts are exhausted the message is published to the **dead-letter
 *   target**, by default the fanout exchange `<queue>.dead` bound to the queue `<queue>.dead` (both
 *   declared automatically), with `x-warren-error`, `x-warren-attempts`, `x-warren-original-exchange`,
 *   `x-warren-original-routing-key` and `x-warren-queue` headers.
 * - A payload that fails `json`/`schema` decoding is dead-lettered at once; the handler is not called.
 * - Nothing is ever requeued straight back: a poison message costs at most `retry.attempts` deliveries.
 * - Consumers are re-established (channel, qos, subscription) after every reconnect. Deliveries of a dead
 *   channel are never acked on the new one. A server-sent cancel (queue deleted) re-declares the queue
 *   from the client's topology and subscribes again.
 * - `stop()` cancels the subscription, lets in-flight handlers finish and settle, then closes the channel.
 *
 * @example
 * ```ts
 * const consumer = await consume(mq, 'orders.created', async (msg) => {
 *   await saveOrder(msg.value);
 * }, { json: true, prefetch: 20, retry: { attempts: 5, delayMs: (n) => 1000 * 2 ** (n - 1) } });
 * // ...
 * await consumer.stop({ timeoutMs: 5000 });
 * ```
 * @module
 */
import { EventEmitter } from 'node:events';
import type { Channel, Delivery } from '../connection/channel.js';
import type { Connection } from '../connection/connection.js';
import { ConnectionError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { AsyncRabbitMQ, SessionParticipant } from './async-rabbitmq.js';
import {
  ConsumerCancelledError,
  errorText,
  type FailureOutcome,
  HandlerError,
  HandlerTimeoutError,
  MessageDecodeError,
  NotManualModeError,
} from './consumer-errors.js';
import {
  attemptOf,
  type ConsumeMessage,
  deadLetterHeaders,
  decodePayload,
  type MessageFields,
  originOf,
  retryHeaders,
} from './consumer-message.js';
import {
  type ConsumeOptions,
  deadLetterName,
  type ResolvedOptions,
  resolveOptions,
  retryQueueName,
} from './consumer-options.js';
import { UnroutableError } from './errors.js';
import type { PublishMessageOptions } from './message.js';

export * from './consumer-errors.js';
export * from './consumer-message.js';
export * from './consumer-options.js';

/** Default `timeoutMs` of {@link Consumer.stop}. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** How long a message whose retry/dead-letter copy could not be published is held before it is requeued. */
const REPUBLISH_FAILURE_HOLD_MS = 1000;
/** At least this long is given to closing the channel at the end of stop(), even when its timeout is spent. */
const CLOSE_WAIT_MS = 1000;

/**
 * What consumers need from the client: {@link AsyncRabbitMQ} provides it. A structural type so that the
 * functions of this module do not depend on the class at run time.
 */
export type ConsumerHost = Pick<
  AsyncRabbitMQ,
  'config' | 'settings' | 'connection' | 'publishMessage' | 'addParticipant' | 'removeParticipant' | 'reportError'
>;

/** A consumer's handler. Its result is ignored; a rejection is a failure. */
export type ConsumeHandler<T = unknown> = (msg: ConsumeMessage<T>) => unknown;

/** Where a consumer is in its life. */
export type ConsumerState =
  /** Registered, waiting for the first connection. */
  | 'starting'
  /** Subscribed. */
  | 'active'
  /** Connection or channel lost, or cancelled by the broker: subscribing again. */
  | 'recovering'
  | 'stopping'
  | 'stopped';

/** Events of a {@link Consumer}. */
export interface ConsumerEvents {
  /**
   * A handler failed ({@link HandlerError}), a payload could not be decoded ({@link MessageDecodeError}), the
   * consumer could not resubscribe ({@link ConsumerCancelledError}), ... Emitted only when a listener is
   * registered; otherwise the error goes to the client's `'error'` event and logger.
   */
  error: [error: unknown];
}

/** Options of {@link Consumer.stop}. */
export interface StopOptions {
  /** How long to wait for in-flight handlers; then the channel is closed and the broker redelivers what is left. Default 10 000. */
  timeoutMs?: number;
}

/** One delivery, from arrival until it is settled. */
interface Entry {
  readonly channel: Channel;
  readonly delivery: Delivery;
  settled: boolean;
}

type SettleKind = 'ack' | 'nack' | 'reject' | 'drop';

/**
 * A running subscription made by {@link consume}. Stop it with {@link Consumer.stop}; `disconnect()` of the
 * client stops it too. It re-subscribes by itself after reconnects and server-sent cancels.
 *
 * @example
 * ```ts
 * const consumer = await consume(mq, 'jobs', handle, { prefetch: 10 });
 * consumer.on('error', (err) => log.warn({ err }, 'job failed'));  // HandlerError, MessageDecodeError, ...
 * console.log(consumer.state, consumer.consumerTag, consumer.inFlight);
 * await consumer.stop({ timeoutMs: 5000 });
 * ```
 */
export class Consumer<T = unknown> extends EventEmitter<ConsumerEvents> {
  /** The queue consumed. */
  readonly queue: string;
  private readonly host: ConsumerHost;
  private readonly handler: ConsumeHandler<T>;
  private readonly opts: ResolvedOptions<T>;
  /** @internal What the client calls on (re)connect, connection loss and disconnect. */
  readonly participant: SessionParticipant;
  private status: ConsumerState = 'starting';
  private conn: Connection | undefined;
  private channel: Channel | undefined;
  private tag: string | undefined;
  /** Attach / resubscribe steps run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private initialAttach = false;
  private waiting: Entry[] = [];
  private waitingHead = 0;
  private running = 0;
  private unsettled = 0;
  private idleWaiters: Array<() => void> = [];
  private reattachTimer: NodeJS.Timeout | undefined;
  private reattachFailures = 0;
  private stopping: Promise<void> | undefined;
  /** Set while an attach / resubscribe step runs: its own failure handling decides what follows. */
  private stepping = false;
  private readonly settleBound = (entry: Entry, kind: SettleKind, requeue: boolean): boolean =>
    this.settle(entry, kind, requeue);

  /** @internal Use {@link consume}. */
  constructor(host: ConsumerHost, queue: string, handler: ConsumeHandler<T>, options: ConsumeOptions<T> = {}) {
    super();
    this.host = host;
    this.queue = queue;
    this.handler = handler;
    this.opts = resolveOptions(queue, handler, options);
    this.participant = {
      attach: (conn) => this.attach(conn, this.initialAttach),
      detach: (err) => this.detach(err),
      stop: (timeoutMs) => this.stop({ timeoutMs }),
    };
  }

  /** Where the consumer is in its life. */
  get state(): ConsumerState {
    return this.status;
  }

  /** The current consumer tag (changes on resubscribe unless `consumerTag` was given). */
  get consumerTag(): string | undefined {
    return this.tag;
  }

  /** Messages received and not yet settled (running, waiting for a handler slot, or awaiting a republish confirm). */
  get inFlight(): number {
    return this.unsettled;
  }

  /** Handlers running now. */
  get activeHandlers(): number {
    return this.running;
  }

  /** @internal Registers with the client; rejects (and unregisters) when the first subscription fails. */
  async start(): Promise<void> {
    this.initialAttach = true;
    const adding = this.host.addParticipant(this.participant);
    this.initialAttach = false;
    try {
      await adding;
    } catch (err) {
      this.host.removeParticipant(this.participant);
      this.status = 'stopped';
      clearTimeout(this.reattachTimer);
      this.reattachTimer = undefined;
      const ch = this.channel;
      this.channel = undefined;
      await ch?.close().catch(() => {});
      throw err;
    }
  }

  /**
   * Stops gracefully: cancels the subscription (no new handler starts; deliveries not yet started are
   * requeued), waits up to `timeoutMs` for in-flight handlers to finish and their messages to be settled,
   * then closes the channel (the broker redelivers whatever is still unsettled) and unregisters from the
   * client. Idempotent.
   *
   * @example
   * ```ts
   * await consumer.stop({ timeoutMs: 5000 });
   * ```
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.stopping === undefined) this.stopping = this.doStop(options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS);
    return this.stopping;
  }

  private async doStop(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const left = (): number => Math.max(0, deadline - Date.now());
    this.status = 'stopping';
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    // Every wait is bounded: a connection that went silent must not hold up disconnect().
    await within(this.chain, left());
    const ch = this.channel;
    const tag = this.tag;
    this.tag = undefined;
    if (ch?.isOpen && tag !== undefined) {
      await within(
        ch.basicCancel(tag).catch(() => {}),
        left(),
      );
    }
    this.requeueWaiting();
    const idle = await this.waitIdle(left());
    if (!idle) {
      this.host.settings.logger.warn(
        { queue: this.queue, inFlight: this.unsettled },
        `warren: consumer of queue ${JSON.stringify(this.queue)}: ${this.unsettled} message(s) still unsettled after ${timeoutMs} ms; closing the channel (the broker redelivers them)`,
      );
    }
    this.channel = undefined;
    this.conn = undefined;
    if (ch !== undefined)
      await within(
        ch.close().catch(() => {}),
        Math.max(left(), CLOSE_WAIT_MS),
      );
    this.status = 'stopped';
    this.host.removeParticipant(this.participant);
  }

  // ------------------------------------------------------------------------------------------------------
  // Subscription lifecycle.

  /** Runs `fn` after the steps before it, flagged as a step. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    const step = this.chain.then(async () => {
      this.stepping = true;
      try {
        await fn();
      } finally {
        this.stepping = false;
      }
    });
    this.chain = step.catch(() => {});
    return step;
  }

  private attach(conn: Connection, initial: boolean): Promise<void> {
    const step = this.enqueue(() => this.establish(conn));
    if (initial) return step;
    return step.catch((err: unknown) => this.attachFailed(conn, err));
  }

  private async establish(conn: Connection): Promise<void> {
    if (this.status === 'stopping' || this.status === 'stopped' || !conn.isOpen) return;
    let ch = this.conn === conn && this.channel?.isOpen ? this.channel : undefined;
    if (ch !== undefined && this.tag !== undefined) return;
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    this.conn = conn;
    if (ch === undefined) {
      await this.declareCompanions(conn);
      const opened = await conn.createChannel();
      ch = opened;
      opened.on('close', (err) => this.onChannelClose(opened, err));
      opened.on('cancel', (tag) => this.onServerCancel(opened, tag));
      try {
        await opened.basicQos({ prefetchCount: this.opts.prefetch });
      } catch (err) {
        await opened.close().catch(() => {});
        throw err;
      }
      this.channel = opened;
    }
    await this.subscribe(ch);
    this.reattachFailures = 0;
    this.status = 'active';
  }

  private async subscribe(ch: Channel): Promise<void> {
    const { consumerTag } = await ch.basicConsume(
      {
        queue: this.queue,
        consumerTag: this.opts.consumerTag,
        noAck: false,
        exclusive: this.opts.exclusive,
        arguments: this.opts.consumeArguments,
      },
      (delivery) => this.onDelivery(ch, delivery),
    );
    this.tag = consumerTag;
  }

  /** Declares the retry queues and the default dead-letter exchange/queue, on a channel of its own. */
  private async declareCompanions(conn: Connection): Promise<void> {
    const o = this.opts;
    const retryDelays = [...new Set(o.delays)];
    const dead = o.deadLetter !== false && o.deadLetter.declare;
    if (retryDelays.length === 0 && !dead) return;
    const ch = await conn.createChannel();
    try {
      for (const delay of retryDelays) {
        await ch.queueDeclare({
          queue: retryQueueName(this.queue, delay),
          durable: true,
          arguments: {
            'x-message-ttl': delay,
            'x-dead-letter-exchange': '',
            'x-dead-letter-routing-key': this.queue,
          },
        });
      }
      if (dead) {
        const name = deadLetterName(this.queue);
        await ch.exchangeDeclare({ exchange: name, type: 'fanout', durable: true });
        await ch.queueDeclare({ queue: name, durable: true });
        await ch.queueBind({ queue: name, exchange: name, routingKey: '' });
      }
    } finally {
      await ch.close().catch(() => {});
    }
  }

  private attachFailed(conn: Connection, err: unknown): void {
    if (this.status === 'stopping' || this.status === 'stopped') return;
    if (this.conn !== conn || !conn.isOpen) return; // the next attach (after the reconnect) starts over
    this.report(err, 'subscribing');
    this.status = 'recovering';
    this.scheduleReattach(conn);
  }

  private scheduleReattach(conn: Connection): void {
    clearTimeout(this.reattachTimer);
    const delay = Math.min(100 * 2 ** this.reattachFailures, 10_000);
    this.reattachFailures++;
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = undefined;
      if (this.conn === conn && conn.isOpen && this.status === 'recovering') void this.attach(conn, false);
    }, delay);
  }

  private detach(_err: Error): void {
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    this.channel = undefined;
    this.tag = undefined;
    this.conn = undefined;
    this.dropDeadWaiting();
    if (this.status === 'active') this.status = 'recovering';
  }

  /** The consumer's channel closed. A channel-level error on a live connection: open a new one. */
  private onChannelClose(ch: Channel, err: Error | undefined): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.tag = undefined;
    this.dropDeadWaiting();
    if (this.status === 'stopping' || this.status === 'stopped') return;
    const conn = this.conn;
    if (err === undefined || err instanceof ConnectionError || conn === undefined || !conn.isOpen) return;
    // During an attach step the step's own failure decides (a failed first subscription rejects consume()).
    if (this.stepping) return;
    this.report(err, 'channel closed');
    this.status = 'recovering';
    this.scheduleReattach(conn);
  }

  /** basic.cancel from the broker (queue deleted...): re-declare the queue from the topology and subscribe again. */
  private onServerCancel(ch: Channel, tag: string): void {
    if (this.channel !== ch || this.tag !== tag) return;
    this.tag = undefined;
    if (this.status === 'stopping' || this.status === 'stopped') return;
    this.status = 'recovering';
    const conn = this.conn;
    if (conn === undefined) return;
    this.host.settings.logger.warn(
      { queue: this.queue, consumerTag: tag },
      `warren: the broker cancelled the consumer of queue ${JSON.stringify(this.queue)}; resubscribing`,
    );
    this.enqueue(() => this.resubscribe(conn, ch)).catch((err: unknown) => this.report(err, 'resubscribing'));
  }

  private async resubscribe(conn: Connection, ch: Channel): Promise<void> {
    if (this.conn !== conn || this.channel !== ch || !ch.isOpen || this.status !== 'recovering') return;
    try {
      const tmp = await conn.createChannel();
      try {
        await this.redeclareQueue(tmp);
      } finally {
        await tmp.close().catch(() => {});
      }
      await this.declareCompanions(conn);
      if (this.channel !== ch || !ch.isOpen || this.status !== 'recovering') return;
      await this.subscribe(ch);
      this.status = 'active';
    } catch (err) {
      if (this.conn !== conn || !conn.isOpen || this.status !== 'recovering') return; // a reconnect starts over
      const known = this.host.config.queues.some((q) => q.name === this.queue);
      const why = known
        ? `re-declaring it failed: ${errorText(err)}`
        : `it is not in the topology and ${errorText(err)}`;
      this.report(new ConsumerCancelledError(this.queue, why, err), 'resubscribing');
      void this.stop({ timeoutMs: DEFAULT_STOP_TIMEOUT_MS });
    }
  }

  /** Declares the queue (and its bindings) as the client's topology describes it, or checks it exists. */
  private async redeclareQueue(ch: Channel): Promise<void> {
    const config = this.host.config;
    const q = config.queues.find((c) => c.name === this.queue);
    if (q === undefined) {
      await ch.queueDeclare({ queue: this.queue, passive: true });
      return;
    }
    await ch.queueDeclare({
      queue: q.name,
      durable: q.durable,
      autoDelete: q.autoDelete,
      exclusive: q.exclusive,
      arguments: q.arguments as FieldTable,
    });
    if (q.exchange !== undefined) {
      await ch.queueBind({ queue: q.name, exchange: q.exchange, routingKey: q.routingKey ?? q.name });
    }
    for (const b of config.bindings) {
      if (b.destinationType === 'queue' && b.destination === q.name) {
        await ch.queueBind({
          queue: q.name,
          exchange: b.source,
          routingKey: b.routingKey,
          arguments: b.arguments as FieldTable,
        });
      }
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Deliveries.

  private onDelivery(ch: Channel, delivery: Delivery): void {
    const entry: Entry = { channel: ch, delivery, settled: false };
    this.unsettled++;
    if (this.status === 'stopping' || this.status === 'stopped') {
      // Arrived between basic.cancel and its -ok: give it back untouched.
      this.settle(entry, 'nack', true);
      return;
    }
    if (this.running < this.opts.concurrency) this.run(entry);
    else this.waiting.push(entry);
  }

  private run(entry: Entry): void {
    this.running++;
    this.process(entry).then(this.finished, this.processFailed);
  }

  // Bound once: a closure per message would be garbage per message.
  private readonly finished = (): void => {
    this.running--;
    this.pump();
  };

  private readonly processFailed = (err: unknown): void => {
    this.report(err, 'processing a message');
    this.finished();
  };

  private pump(): void {
    while (this.running < this.opts.concurrency && this.waitingHead < this.waiting.length) {
      if (this.status === 'stopping' || this.status === 'stopped') return;
      const entry = this.waiting[this.waitingHead]!;
      this.waiting[this.waitingHead++] = undefined as never;
      if (!entry.channel.isOpen) {
        this.settle(entry, 'drop', false);
        continue;
      }
      this.run(entry);
    }
    if (this.waitingHead === this.waiting.length) {
      this.waiting = [];
      this.waitingHead = 0;
    }
  }

  private async process(entry: Entry): Promise<void> {
    const d = entry.delivery;
    const attempt = attemptOf(d.properties.headers);
    const o = this.opts;
    // A raw payload needs no decoding step (and no result object per message).
    const decoded = o.json || o.schema !== undefined ? decodePayload<T>(d.body, o.json, o.schema) : undefined;
    if (decoded !== undefined && !decoded.ok) {
      const outcome: FailureOutcome = !entry.channel.isOpen
        ? 'redeliver'
        : o.deadLetter === false
          ? 'discard'
          : 'dead-letter';
      const err = new MessageDecodeError(
        `message ${d.properties.messageId ?? `#${d.deliveryTag}`} from queue ${JSON.stringify(this.queue)}: ${decoded.error}`,
        { queue: this.queue, deliveryTag: d.deliveryTag, messageId: d.properties.messageId, outcome },
        decoded.cause,
      );
      this.report(err, 'decoding a message');
      await this.deadLetter(entry, attempt, decoded.error, outcome);
      return;
    }
    const value = decoded === undefined ? (d.body as unknown as T) : decoded.value;
    const msg = new Message<T>(this.queue, entry, value, attempt, o.manual, this.settleBound);
    try {
      if (o.handlerTimeoutMs === undefined) await this.handler(msg);
      else await this.invokeWithTimeout(msg, o.handlerTimeoutMs);
    } catch (err) {
      await this.fail(entry, attempt, err);
      return;
    }
    if (!o.manual) this.settle(entry, 'ack', false);
  }

  private async invokeWithTimeout(msg: Message<T>, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        (async () => this.handler(msg))(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HandlerTimeoutError(timeoutMs)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The handler failed: retry, dead-letter or discard as the policy says. */
  private async fail(entry: Entry, attempt: number, cause: unknown): Promise<void> {
    const o = this.opts;
    const d = entry.delivery;
    let outcome: FailureOutcome;
    if (entry.settled) outcome = 'manual';
    else if (!entry.channel.isOpen) outcome = 'redeliver';
    else if (attempt < o.attempts) outcome = 'retry';
    else outcome = o.deadLetter === false ? 'discard' : 'dead-letter';
    this.report(
      new HandlerError(
        {
          queue: this.queue,
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
        this.settle(entry, 'drop', false);
        return;
      case 'retry': {
        const delay = o.delays[attempt - 1] ?? 0;
        await this.republish(
          entry,
          '',
          retryQueueName(this.queue, delay),
          retryHeaders(d, attempt + 1, cause),
          'retry queue',
        );
        return;
      }
      default:
        await this.deadLetter(entry, attempt, cause, outcome);
    }
  }

  private async deadLetter(entry: Entry, attempts: number, cause: unknown, outcome: FailureOutcome): Promise<void> {
    const target = this.opts.deadLetter;
    if (outcome === 'redeliver') {
      this.settle(entry, 'drop', false);
      return;
    }
    if (target === false || outcome === 'discard') {
      this.settle(entry, 'nack', false);
      return;
    }
    const d = entry.delivery;
    const routingKey = target.routingKey ?? originOf(d).routingKey;
    await this.republish(
      entry,
      target.exchange,
      routingKey,
      deadLetterHeaders(d, this.queue, attempts, cause),
      'dead-letter target',
    );
  }

  /**
   * Publishes a copy (confirmed), then acks the original on its own channel. If the copy cannot be
   * published, the original is held a moment and requeued: never lost.
   */
  private async republish(
    entry: Entry,
    exchange: string,
    routingKey: string,
    headers: FieldTable,
    what: string,
  ): Promise<void> {
    const p = entry.delivery.properties;
    const options: PublishMessageOptions = {
      exchange,
      headers,
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
      timestamp: p.timestamp,
    };
    for (let tries = 1; ; tries++) {
      try {
        await this.host.publishMessage(routingKey, entry.delivery.body, options);
        break;
      } catch (err) {
        if (!entry.channel.isOpen) {
          this.settle(entry, 'drop', false);
          return;
        }
        const conn = this.conn;
        if (tries === 1 && err instanceof UnroutableError && conn?.isOpen) {
          // Our retry queue / dead-letter queue was deleted behind our back: declare it again, once.
          try {
            await this.declareCompanions(conn);
            continue;
          } catch {
            // fall through to the hold-and-requeue below
          }
        }
        this.report(
          err,
          `publishing to the ${what} failed; the message is requeued in ${REPUBLISH_FAILURE_HOLD_MS} ms`,
        );
        if (this.status !== 'stopping') await sleep(REPUBLISH_FAILURE_HOLD_MS);
        this.settle(entry, 'nack', true);
        return;
      }
    }
    this.settle(entry, 'ack', false);
  }

  /** Settles a delivery once, on the channel it came from (a dead channel sends nothing). */
  private settle(entry: Entry, kind: SettleKind, requeue: boolean): boolean {
    if (entry.settled) return false;
    entry.settled = true;
    let sent = false;
    const tag = entry.delivery.deliveryTag;
    if (kind === 'ack') sent = entry.channel.basicAck(tag);
    else if (kind === 'nack') sent = entry.channel.basicNack(tag, { requeue });
    else if (kind === 'reject') sent = entry.channel.basicReject(tag, { requeue });
    if (--this.unsettled === 0) this.wakeIdle();
    return sent;
  }

  private requeueWaiting(): void {
    const waiting = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    for (const e of waiting) this.settle(e, 'nack', true);
  }

  /** Deliveries waiting for a handler slot whose channel died: the broker redelivers them. */
  private dropDeadWaiting(): void {
    if (this.waitingHead === this.waiting.length) return;
    const keep: Entry[] = [];
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const e = this.waiting[i]!;
      if (e.channel.isOpen) keep.push(e);
      else this.settle(e, 'drop', false);
    }
    this.waiting = keep;
    this.waitingHead = 0;
  }

  private waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.unsettled === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(done);
    });
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** An error on the consumer's `'error'` event when listened to, else to the client (its `'error'` event / logger). */
  private report(err: unknown, what: string): void {
    if (this.listenerCount('error') > 0) {
      this.host.settings.logger.warn(
        { err, queue: this.queue },
        `warren: consumer of queue ${JSON.stringify(this.queue)}: ${what}: ${errorText(err)}`,
      );
      try {
        this.emit('error', err);
      } catch (listenerError) {
        this.host.settings.logger.error(
          { err: listenerError },
          `warren: a consumer 'error' listener threw: ${errorText(listenerError)}`,
        );
      }
      return;
    }
    this.host.reportError(err, `consumer of queue ${JSON.stringify(this.queue)}: ${what}`);
  }
}

/** The message object handed to handlers. */
class Message<T> implements ConsumeMessage<T> {
  readonly body: Buffer;
  readonly properties: Delivery['properties'];
  readonly headers: FieldTable;
  private fieldsMade: MessageFields | undefined;

  constructor(
    readonly queue: string,
    private readonly entry: Entry,
    readonly value: T,
    readonly attempt: number,
    private readonly manual: boolean,
    private readonly settleFn: (entry: Entry, kind: SettleKind, requeue: boolean) => boolean,
  ) {
    const d = entry.delivery;
    this.body = d.body;
    this.properties = d.properties;
    this.headers = d.properties.headers ?? {};
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
}

/**
 * Subscribes `handler` to `queue` and resolves once the subscription is active (or, when the client is not
 * connected yet, once it is registered: it subscribes on connect). See the module documentation for the
 * outcome policy (ack, retry queues, dead-letter target).
 *
 * @param mq the client ({@link AsyncRabbitMQ}).
 * @param queue an existing queue (typically declared by the client's topology).
 * @throws ConsumerOptionsError for invalid options (synchronously checked, before anything is sent).
 * @throws ChannelError when the broker refuses the subscription (no such queue, exclusive consumer exists...).
 *
 * @example
 * ```ts
 * const consumer = await consume(mq, 'orders.created', async (msg) => {
 *   await handleOrder(msg.value);
 * }, {
 *   prefetch: 10,
 *   schema: OrderSchema,                      // zod or anything with safeParse/parse
 *   retry: { attempts: 3, delayMs: 5_000 },   // retry queue orders.created.retry.5000
 * });                                          // then orders.created.dead
 * consumer.on('error', (err) => log.warn(err));
 * await consumer.stop({ timeoutMs: 5_000 });
 * ```
 */
export async function consume<T = unknown>(
  mq: ConsumerHost,
  queue: string,
  handler: ConsumeHandler<T>,
  options: ConsumeOptions<T> = {},
): Promise<Consumer<T>> {
  const consumer = new Consumer<T>(mq, queue, handler, options);
  await consumer.start();
  return consumer;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `p` (ignoring its outcome), but no longer than `ms`; leaves no timer behind. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
