import { inspect } from 'node:util';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { AsyncRabbitMQOptions, ClientState } from '../client/async-rabbitmq.js';
import type { RabbitMQConfig } from '../client/config.js';
import { ClientClosedError, InvalidMessageError } from '../client/errors.js';
import type { MessageBody, PublishMessageOptions } from '../client/message.js';
import type { Logger } from '../client/settings.js';
import type { BasicConsumeOptions, Delivery, GetMessage } from '../connection/channel.js';
import { WarrenError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { BasicProperties } from '../protocol/spec.js';
import { PublishManyError } from './errors.js';
import { Area, CallerMailbox, HEADER_SLOTS, type ManyMessage } from './mailbox.js';
import {
  deserializeError,
  revive,
  type SerializedError,
  type SyncLogRecord,
  type SyncResponse,
  toThread,
} from './messages.js';
import { bootstrap, exitError, STARTED, WAKE, workerLocation } from './worker-bootstrap.js';

/** Options of {@link SyncRabbitMQ}: those of AsyncRabbitMQ, plus how long one blocking call may take. */
export interface SyncRabbitMQOptions extends AsyncRabbitMQOptions {
  /** Longest a blocking call waits for the worker before throwing (ms). Default 120 000. */
  callTimeoutMs?: number;
}

/**
 * The blocking twin of {@link AsyncRabbitMQ}, for code that cannot await (scripts, synchronous hooks,
 * ports of blocking Python code). Same surface, same guarantees: `publishMessage` returns only once the
 * broker confirmed the message, and throws the same error classes.
 *
 * It runs an AsyncRabbitMQ in a worker thread and blocks the calling thread (Atomics.wait) until each
 * call is answered, so reconnects and heartbeats keep running while the caller waits. Blocking the main
 * thread also blocks its own event loop: use it where that is acceptable. Call {@link close} (or
 * `disconnect()`) when done, or the worker keeps the process alive.
 *
 * The worker starts under whatever flags the process was started with (`--input-type=module`, `-e`,
 * `--import` loaders, `--require` preloads). If it cannot start, the constructor throws a WarrenError
 * with code `ERR_SYNC_WORKER_START`; if it exits or crashes, the blocked call and every later one throw
 * `ERR_SYNC_WORKER_EXIT` naming the exit code and the crash (`disconnect()` and `close()` stay quiet).
 *
 * @example
 * ```ts
 * const mq = new SyncRabbitMQ({ queues: [{ name: 'jobs' }] });
 * mq.connect();
 * mq.publishMessage('jobs', { id: 1 });   // returns after the broker's confirm
 * const ch = mq.getChannel();
 * const msg = ch.basicGet({ queue: 'jobs' });
 * if (msg) ch.basicAck(msg.deliveryTag);
 * mq.disconnect();
 * ```
 */
export class SyncRabbitMQ {
  private worker: Worker | undefined;
  private readonly replies: MessagePort;
  private readonly requests: MessagePort;
  private readonly logs: MessagePort;
  /** Shared with the worker: the header slots of mailbox.ts ({@link WAKE}, {@link STARTED}...). */
  private readonly signal = new Int32Array(new SharedArrayBuffer(HEADER_SLOTS * 4));
  private readonly mailbox: CallerMailbox;
  private readonly logger: Logger | undefined;
  private readonly callTimeoutMs: number;
  private nextId = 1;
  /** Why the worker ended on its own; every call after that throws it. */
  private ended: SerializedError | undefined;

  constructor(config: RabbitMQConfig = {}, options: SyncRabbitMQOptions = {}) {
    const { logger, callTimeoutMs, ...rest } = options;
    this.logger = logger;
    this.callTimeoutMs = callTimeoutMs ?? 120_000;
    const replies = new MessageChannel();
    const requests = new MessageChannel();
    const logs = new MessageChannel();
    this.replies = replies.port1;
    this.requests = requests.port1;
    this.logs = logs.port1;
    const replyArea = Area.create();
    this.mailbox = new CallerMailbox(this.signal, this.requests, this.replies, replyArea);
    const { url, fromSource } = workerLocation();
    let worker: Worker;
    try {
      worker = new Worker(bootstrap(url, fromSource), {
        eval: true,
        workerData: {
          config: toThread(config),
          options: toThread(rest),
          replies: replies.port2,
          requests: requests.port2,
          logs: logs.port2,
          signal: this.signal,
          requestArea: this.mailbox.initialRequestArea,
          replyArea: replyArea.sab,
        },
        transferList: [replies.port2, requests.port2, logs.port2],
      });
    } catch (err) {
      // E.g. the permission model without --allow-worker.
      this.replies.close();
      this.requests.close();
      this.logs.close();
      throw new WarrenError(`the SyncRabbitMQ worker could not be created: ${(err as Error).message}`, {
        code: 'ERR_SYNC_WORKER_START',
        cause: err,
      });
    }
    this.worker = worker;
    // Seen when the event loop runs between calls; a blocked call learns of the end by itself (callWithin).
    let crash: unknown;
    worker.on('error', (err) => {
      crash = err;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.end(exitError(code, crash));
    });
    // Between calls nothing needs the worker to keep this process alive; calls block on it anyway.
    worker.unref();
    this.replies.unref();
    this.requests.unref();
    this.logs.unref();
    // Validation errors of the config surface here, as they do from AsyncRabbitMQ's constructor.
    try {
      this.call('status');
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Connects and declares the topology; blocks until ready (or throws). */
  connect(): void {
    this.call('connect');
  }

  /** Waits for confirms, closes the connection and ends the worker. Idempotent; quiet once the worker ended. */
  disconnect(): void {
    if (!this.worker) return;
    try {
      this.call('disconnect');
    } finally {
      this.close();
    }
  }

  /** Ends the worker without waiting for anything (use {@link disconnect} for a clean stop). */
  close(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) void worker.terminate();
    this.replies.close();
    this.requests.close();
    this.logs.close();
  }

  /** The worker ended on its own: remember why, and release what is left of it. */
  private end(why: SerializedError): void {
    this.ended ??= why;
    this.close();
  }

  /** A fresh error for a call after the worker ended (same code and message every time). */
  private endedFailure(): Error {
    return deserializeError(this.ended!);
  }

  /** Shows the state, never the settings (their URLs carry credentials). */
  [inspect.custom](): string {
    const worker = this.ended ? `ended (${this.ended.code})` : this.worker ? 'running' : 'closed';
    return `SyncRabbitMQ { worker: ${worker}, callTimeoutMs: ${this.callTimeoutMs} }`;
  }

  /**
   * Declares the topology again on the current connection (it is declared on every connect anyway); blocks until done.
   */
  declareInfrastructure(): void {
    this.call('declareInfrastructure');
  }

  /**
   * Publishes and returns once the broker confirmed; throws UnroutableError, PublishNackedError...
   * The body is copied during the call (never kept, detached or changed): reuse the Buffer at once.
   */
  publishMessage(routingKey: string, message: MessageBody, options: PublishMessageOptions = {}): void {
    this.call('publishMessage', routingKey, message, options);
  }

  /**
   * Publishes every message at once, with their confirms pipelined (as many in flight as the publish
   * buffer holds), and returns once the broker confirmed them all: far faster than one publishMessage
   * per message. The bodies are copied during the call and never kept.
   *
   * Nothing is lost silently: when any message is not confirmed (unroutable, nacked, timed out, the
   * client closed...) it throws a {@link PublishManyError} whose `failures` list each failed index with
   * the error publishMessage would have thrown for it; every other message was confirmed. Arguments that
   * are not an array of `{ routingKey, message }` throw InvalidMessageError before anything is sent.
   *
   * @example
   * ```ts
   * try {
   *   mq.publishMany(orders.map((o) => ({ routingKey: 'orders', message: o })));
   * } catch (err) {
   *   if (!(err instanceof PublishManyError)) throw err;
   *   for (const { index, error } of err.failures) retryLater(orders[index], error);
   * }
   * ```
   */
  publishMany(messages: readonly ManyMessage[]): void {
    if (!Array.isArray(messages)) {
      throw new InvalidMessageError(
        `publishMany needs an array of messages, got ${messages === null ? 'null' : typeof messages}`,
      );
    }
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i];
      if (m === null || typeof m !== 'object' || typeof m.routingKey !== 'string') {
        throw new InvalidMessageError(`publishMany messages[${i}] must be { routingKey: string, message, options? }`);
      }
    }
    if (messages.length === 0) return;
    const outcome = this.call('publishMany', messages) as
      | { failures: { index: number; error: SerializedError }[] }
      | undefined;
    if (outcome) {
      throw new PublishManyError(
        outcome.failures.map((f) => ({ index: f.index, error: deserializeError(f.error) })),
        messages.length,
      );
    }
  }

  /** True while a connection to the broker is open (asks the worker; false once closed). */
  get isConnected(): boolean {
    return this.status().isConnected;
  }

  /** True when connected, the topology is declared and messages can be written now (not blocked). */
  get isReady(): boolean {
    return this.status().isReady;
  }

  /** Where the client is in its life; `'idle'` once {@link close} ended the worker. */
  get state(): ClientState {
    return this.status().state;
  }

  /**
   * A blocking channel with prefetch 1 (see AsyncRabbitMQ.getChannel): pull messages with basicGet, or
   * consume them with {@link SyncChannel.consume}.
   */
  getChannel(): SyncChannel {
    return new SyncChannel(this, this.call('getChannel') as number);
  }

  /** @internal Runs one operation in the worker and blocks until it answers. */
  call(op: string, ...args: unknown[]): unknown {
    return this.callWithin(this.callTimeoutMs, op, ...args);
  }

  /** @internal {@link call} with its own time limit (a pull that may wait longer than a normal call). */
  callWithin(timeoutMs: number, op: string, ...args: unknown[]): unknown {
    if (this.ended) throw this.endedFailure();
    const worker = this.worker;
    if (!worker) throw new ClientClosedError(`SyncRabbitMQ is closed: cannot ${op}`);
    const id = this.nextId++;
    const deadline = Date.now() + timeoutMs;
    Atomics.store(this.signal, WAKE, 0);
    let reply: { id: number; ok: boolean; value?: unknown; error?: unknown } | undefined;
    if (this.mailbox.send(id, op, args, timeoutMs)) {
      for (;;) {
        if (this.mailbox.hasReply) {
          reply = this.mailbox.takeReply();
          if (reply.id === id) break;
          continue; // the answer to an earlier call that timed out
        }
        const left = deadline - Date.now();
        if (left <= 0) break;
        if (Atomics.wait(this.signal, WAKE, 0, Math.min(left, 1000)) !== 'timed-out' && this.mailbox.hasReply) {
          Atomics.store(this.signal, WAKE, 0);
          continue;
        }
        Atomics.store(this.signal, WAKE, 0);
        // Woken without a reply: the bootstrap reports that the worker failed to start or is exiting.
        const ended = this.workerEnded();
        if (ended) throw ended;
      }
    }
    this.replayLogs();
    if (reply?.id !== id) {
      if (Atomics.load(this.signal, STARTED) === 0) {
        // It never ran a line of its own (e.g. a --require preload threw in the worker thread).
        this.end({
          name: 'WarrenError',
          code: 'ERR_SYNC_WORKER_START',
          message: `the SyncRabbitMQ worker did not start within ${timeoutMs} ms`,
          recoverable: false,
        });
        throw this.endedFailure();
      }
      throw new WarrenError(`SyncRabbitMQ: ${op} got no answer within ${timeoutMs} ms`, {
        code: 'ERR_SYNC_TIMEOUT',
      });
    }
    if (!reply.ok) throw deserializeError(reply.error as SerializedError);
    return reply.value;
  }

  /** A message of the bootstrap on the reply port (request id -1) ends the worker: the error to throw. */
  private workerEnded(): Error | undefined {
    for (let got = receiveMessageOnPort(this.replies); got; got = receiveMessageOnPort(this.replies)) {
      if (this.mailbox.adopt(got.message)) continue;
      const reply = got.message as SyncResponse;
      if (reply.id === -1 && !reply.ok) {
        this.replayLogs();
        this.end(reply.error);
        return this.endedFailure();
      }
    }
    return undefined;
  }

  private status(): { isConnected: boolean; isReady: boolean; state: ClientState } {
    if (this.ended) throw this.endedFailure();
    if (!this.worker) return { isConnected: false, isReady: false, state: 'idle' };
    return this.call('status') as { isConnected: boolean; isReady: boolean; state: ClientState };
  }

  private replayLogs(): void {
    for (let m = receiveMessageOnPort(this.logs); m; m = receiveMessageOnPort(this.logs)) {
      const record = m.message as SyncLogRecord;
      this.logger?.[record.level]?.(...(revive(record.args) as unknown[]));
    }
  }
}

/** How long one blocking pull waits in the worker before the caller asks again (no time limit given). */
const PULL_SLICE_MS = 10_000;

/**
 * A channel of a {@link SyncRabbitMQ}: the engine's channel methods, blocking. A callback cannot run
 * while the thread blocks, so consuming is pulling: {@link basicConsume} starts a consumer whose
 * deliveries wait in the worker (as many as the prefetch allows), {@link nextDelivery} takes the next
 * one, and {@link consume} wraps both in a loop.
 *
 * Each method runs the {@link Channel} method of the same name in the worker and returns what it
 * resolves with, or throws what it rejects with (the same error classes and fields): a broker refusal is
 * a ChannelError with its `replyCode` (404 NOT_FOUND, 406 PRECONDITION_FAILED...), after which this
 * channel is closed. A closed channel (by the broker, by {@link close}, or by a reconnect: channels do
 * not survive one) throws code `ERR_CHANNEL_CLOSED`; call `getChannel()` again for a new one.
 */
export class SyncChannel {
  constructor(
    private readonly owner: SyncRabbitMQ,
    /** The channel's handle in the worker. */
    readonly handle: number,
  ) {}

  private run(method: string, ...args: unknown[]): unknown {
    return this.owner.call('channel', this.handle, method, ...args);
  }

  /**
   * Declares an exchange: creates it, or checks that the existing one has the same type and flags (406
   * PRECONDITION_FAILED otherwise); `passive: true` only checks that it exists (404 NOT_FOUND). Arguments
   * and defaults as in {@link Channel.exchangeDeclare}.
   */
  exchangeDeclare(a: {
    exchange: string;
    type?: string;
    durable?: boolean;
    autoDelete?: boolean;
    internal?: boolean;
    passive?: boolean;
    arguments?: FieldTable;
  }): void {
    this.run('exchangeDeclare', a);
  }
  /**
   * Deletes an exchange and its bindings; `ifUnused: true` refuses (406) while it has bindings. See
   * {@link Channel.exchangeDelete}.
   */
  exchangeDelete(a: { exchange: string; ifUnused?: boolean }): void {
    this.run('exchangeDelete', a);
  }
  /** Binds exchange `destination` to exchange `source` (a RabbitMQ extension). See {@link Channel.exchangeBind}. */
  exchangeBind(a: { destination: string; source: string; routingKey?: string; arguments?: FieldTable }): void {
    this.run('exchangeBind', a);
  }
  /** Removes an exchange-to-exchange binding (same key and arguments as bound). See {@link Channel.exchangeUnbind}. */
  exchangeUnbind(a: { destination: string; source: string; routingKey?: string; arguments?: FieldTable }): void {
    this.run('exchangeUnbind', a);
  }
  /**
   * Declares a queue: creates it, or checks that the existing one has the same flags and arguments (406
   * PRECONDITION_FAILED otherwise); `queue: ''` lets the broker name it; `passive: true` only checks that
   * it exists (404 NOT_FOUND) and reads its counts. Arguments and defaults as in {@link Channel.queueDeclare}.
   * @example
   * ```ts
   * const { messageCount } = ch.queueDeclare({ queue: 'jobs', passive: true });
   * ```
   */
  queueDeclare(a: {
    queue?: string;
    passive?: boolean;
    durable?: boolean;
    exclusive?: boolean;
    autoDelete?: boolean;
    arguments?: FieldTable;
  }): {
    /** The queue's name: the one given, or the one the broker made up for `queue: ""`. */
    queue: string;
    /** Messages ready for delivery in the queue (those delivered and not yet acknowledged are not counted). */
    messageCount: number;
    /** Consumers subscribed to the queue. */
    consumerCount: number;
  } {
    return this.run('queueDeclare', a) as { queue: string; messageCount: number; consumerCount: number };
  }
  /**
   * Binds a queue to an exchange with a binding key (404 NOT_FOUND when either is missing). See
   * {@link Channel.queueBind}.
   */
  queueBind(a: { queue: string; exchange: string; routingKey?: string; arguments?: FieldTable }): void {
    this.run('queueBind', a);
  }
  /** Removes a queue binding (same key and arguments as bound). See {@link Channel.queueUnbind}. */
  queueUnbind(a: { queue: string; exchange: string; routingKey?: string; arguments?: FieldTable }): void {
    this.run('queueUnbind', a);
  }
  /** Removes every message ready in a queue (unacknowledged ones stay). See {@link Channel.queuePurge}. */
  queuePurge(a: { queue: string }): {
    /** How many messages were removed. */
    messageCount: number;
  } {
    return this.run('queuePurge', a) as { messageCount: number };
  }
  /**
   * Deletes a queue with its bindings and messages; `ifUnused` / `ifEmpty` refuse (406) while it has
   * consumers / messages. See {@link Channel.queueDelete}.
   */
  queueDelete(a: { queue: string; ifUnused?: boolean; ifEmpty?: boolean }): {
    /** How many messages were deleted with the queue. */
    messageCount: number;
  } {
    return this.run('queueDelete', a) as { messageCount: number };
  }
  /**
   * Sets the prefetch of consumers started afterwards on this channel (`getChannel()` starts at 1): how
   * many unacknowledged deliveries each may hold, and so how many {@link basicConsume} buffers in the
   * worker. `global: true` is refused (`ERR_GLOBAL_QOS`). See {@link Channel.basicQos}.
   */
  basicQos(a: { prefetchCount?: number; prefetchSize?: number; global?: false }): void {
    this.run('basicQos', a);
  }
  /** Publishes on this channel; returns once written (or confirmed, after confirmSelect). */
  basicPublish(
    options: { exchange?: string; routingKey?: string; mandatory?: boolean },
    body: Uint8Array | string,
    properties: BasicProperties = {},
  ): void {
    this.run('basicPublish', options, body, properties);
  }
  /**
   * Starts a consumer; take its deliveries with {@link nextDelivery}. Acknowledge each one (no-ack
   * consumers are refused: the broker would push the whole queue into memory, and a cancel would drop
   * what was not pulled; pull with `basicGet({ noAck: true })` instead).
   */
  basicConsume(a: Omit<BasicConsumeOptions, 'noAck'> & { noAck?: false }): {
    /** The consumer's tag: pass it to {@link nextDelivery} and {@link basicCancel}. */
    consumerTag: string;
  } {
    if ((a as BasicConsumeOptions).noAck) {
      throw new WarrenError(
        'SyncChannel.basicConsume needs acknowledgements (noAck: true is refused); use basicGet({ noAck: true })',
        { code: 'ERR_SYNC_NO_ACK' },
      );
    }
    return this.owner.call('consume', this.handle, a) as { consumerTag: string };
  }

  /**
   * Blocks until the consumer's next delivery and returns it; null when none arrives within `timeoutMs`
   * (no limit when left out). Throws `ERR_CONSUMER_CANCELLED` once the consumer was cancelled (by
   * {@link basicCancel} or by the broker) or `ERR_CHANNEL_CLOSED` once the channel closed, after the
   * deliveries that had already arrived.
   */
  nextDelivery(consumerTag: string, options: { timeoutMs?: number } = {}): Delivery | null {
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
      throw new WarrenError(`nextDelivery timeoutMs must be a non-negative number, got ${timeoutMs}`, {
        code: 'ERR_INVALID_ARGUMENT',
      });
    }
    let left = timeoutMs ?? Number.POSITIVE_INFINITY;
    for (;;) {
      const slice = Math.min(left, PULL_SLICE_MS);
      const got = this.owner.callWithin(
        slice + PULL_SLICE_MS,
        'next',
        this.handle,
        consumerTag,
        slice,
      ) as Delivery | null;
      if (got !== null) return got;
      left -= slice;
      if (left <= 0) return null;
    }
  }

  /** Cancels a consumer; deliveries it holds that were not pulled go back to the queue. */
  basicCancel(consumerTag: string): void {
    this.owner.call('cancel', this.handle, consumerTag);
  }

  /**
   * Consumes `queue` as a loop: yields each delivery (acknowledge it with {@link basicAck}); ends when
   * none arrives for `inactivityTimeoutMs` (no limit when left out). Leaving the loop early (break,
   * return, throw) cancels the consumer and gives back what it held.
   *
   * @example
   * ```ts
   * const ch = mq.getChannel();
   * for (const d of ch.consume({ queue: 'jobs' }, { inactivityTimeoutMs: 5000 })) {
   *   handle(d.body);
   *   ch.basicAck(d.deliveryTag);
   * }
   * ```
   */
  *consume(
    a: Omit<BasicConsumeOptions, 'noAck'>,
    options: { inactivityTimeoutMs?: number } = {},
  ): Generator<Delivery, void, undefined> {
    const { consumerTag } = this.basicConsume(a);
    let cancelled = false;
    try {
      for (;;) {
        let d: Delivery | null;
        try {
          d = this.nextDelivery(consumerTag, { timeoutMs: options.inactivityTimeoutMs });
        } catch (err) {
          // Cancelled by the broker or a closed channel: the consumer is gone already.
          if (
            err instanceof WarrenError &&
            (err.code === 'ERR_CONSUMER_CANCELLED' || err.code === 'ERR_CHANNEL_CLOSED')
          )
            cancelled = true;
          throw err;
        }
        if (d === null) return;
        yield d;
      }
    } finally {
      if (!cancelled) this.basicCancel(consumerTag);
    }
  }

  /**
   * Fetches one message from a queue (basic.get), or returns null when it is empty. Unless `noAck: true`,
   * settle it with {@link basicAck} / {@link basicNack} / {@link basicReject}. See {@link Channel.basicGet}.
   */
  basicGet(a: { queue: string; noAck?: boolean }): GetMessage | null {
    return this.run('basicGet', a) as GetMessage | null;
  }
  /**
   * Acknowledges a delivery (`multiple: true`: and every earlier one on this channel). Returns false,
   * sending nothing, when the channel is no longer open. See {@link Channel.basicAck}.
   */
  basicAck(deliveryTag: number, options?: { multiple?: boolean }): boolean {
    return this.run('basicAck', deliveryTag, options) as boolean;
  }
  /**
   * Negatively acknowledges a delivery (`multiple: true`: and every earlier one): requeued by default,
   * dead-lettered or dropped with `requeue: false`. Returns false when the channel is no longer open.
   */
  basicNack(deliveryTag: number, options?: { multiple?: boolean; requeue?: boolean }): boolean {
    return this.run('basicNack', deliveryTag, options) as boolean;
  }
  /**
   * Rejects one delivery: requeued by default, dead-lettered or dropped with `requeue: false`. Returns
   * false when the channel is no longer open.
   */
  basicReject(deliveryTag: number, options?: { requeue?: boolean }): boolean {
    return this.run('basicReject', deliveryTag, options) as boolean;
  }
  /** Asks the broker to redeliver every unacknowledged delivery of this channel. See {@link Channel.basicRecover}. */
  basicRecover(a: { requeue?: boolean } = {}): void {
    this.run('basicRecover', a);
  }
  /** Puts the channel in confirm mode: {@link basicPublish} then returns only once the broker acked the message. */
  confirmSelect(): void {
    this.run('confirmSelect');
  }
  /** Makes the channel transactional: publishes and acks wait for {@link txCommit}. See {@link Channel.txSelect}. */
  txSelect(): void {
    this.run('txSelect');
  }
  /** Commits the publishes and acks of the current transaction. See {@link Channel.txCommit}. */
  txCommit(): void {
    this.run('txCommit');
  }
  /** Discards the publishes and acks of the current transaction. See {@link Channel.txRollback}. */
  txRollback(): void {
    this.run('txRollback');
  }
  /**
   * Closes the channel (its consumers end, unsettled deliveries go back to their queues); later calls on
   * it throw `ERR_CHANNEL_CLOSED`. See {@link Channel.close}.
   */
  close(): void {
    this.run('close');
  }
}
