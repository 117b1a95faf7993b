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
 * - A payload that fails `json`/`schema` decoding, or whose content header the engine could not decode, is
 *   dead-lettered at once; the handler is not called. A copy that cannot be published as it came (a header
 *   another client wrote that the encoder refuses) is sanitized, never requeued in a loop.
 * - Nothing is ever requeued straight back: a poison message costs at most `retry.attempts` deliveries.
 * - Consumers are re-established (channel, qos, subscription) with every generation of the client's
 *   session, and work only for the generation they were attached to: deliveries of a dead channel are never
 *   acked on the new one, and a stopped consumer never subscribes again. A consumer of a server-named queue
 *   of the topology follows it to its new name on every reconnect. A server-sent cancel (queue deleted) re-declares the queue
 *   from the client's topology and subscribes again. A broker-ended subscription (basic.cancel, or a channel
 *   the broker closed: RabbitMQ 4.0's consumer timeout) is reported ({@link ConsumerInterruptedError}).
 * - A stream queue is read from an offset and resumed after the last offset processed; it is only ever acked
 *   and failing handlers are retried in-process (see `stream.ts`).
 * - A quorum-queue delivery at its delivery limit minus one is dead-lettered instead of handled, so that no
 *   requeue can make the broker drop it (see `delivery-limit.ts`).
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
import { inspect } from 'node:util';
import type { Channel } from '../../connection/channel.js';
import type { Connection } from '../../connection/connection.js';
import { asyncDispose } from '../../connection/dispose.js';
import { ConnectionError, WarrenError } from '../../protocol/errors.js';
import { observeFailure, observeHandler } from '../observe/consume.js';
import { type ClientCounters, countersOf } from '../observe/stats.js';
import { bounded, left, within } from '../session/deadline.js';
import type { Participant, Session, SessionHost } from '../session/types.js';
import { ConsumerInterruptedError, closeReason } from './broker-errors.js';
import { declareCompanions, redeclareQueue } from './companions.js';
import { Deliveries } from './deliveries.js';
import { type Entry, type IncomingDelivery, isThenable, Message, type SettleKind, withOutcomes } from './delivery.js';
import { atDeliveryLimit, brokerMajorOf, type DeliveryLimit, resolveDeliveryLimit } from './delivery-limit.js';
import { ConsumerCancelledError, errorText, HandlerError, HandlerTimeoutError } from './errors.js';
import { attemptOf, type ConsumeMessage, type Decoded, decodePayload } from './message.js';
import { type ConsumeOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { Outcomes } from './outcomes.js';
import {
  type Admission,
  ackCredit,
  isStreamInConfig,
  resolveStreamOptions,
  retryInProcess,
  STREAM_OFFSET_ARGUMENT,
  StreamCursor,
} from './stream.js';

export * from './broker-errors.js';
export { DEFAULT_QUORUM_DELIVERY_LIMIT, DELIVERY_COUNT_HEADER, type DeliveryLimitOptions } from './delivery-limit.js';
export * from './errors.js';
export { DEFAULT_OUTCOME_ATTEMPTS, DEFAULT_RETRY_LATER_MS, Outcome, type OutcomeKind } from './handler-outcome.js';
export * from './message.js';
export * from './options.js';
export * from './schema.js';
export {
  STREAM_FILTER_VALUE_HEADER,
  STREAM_OFFSET_HEADER,
  type StreamConsumeOptions,
  type StreamOffset,
} from './stream.js';

/** Default `timeoutMs` of {@link Consumer.stop}. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
/** At least this long is given to closing the channel at the end of stop(), even when its timeout is spent. */
const CLOSE_WAIT_MS = 1000;
/** How often a deleted queue of the topology is declared again when subscribing to it still finds none (404). */
const REDECLARE_TRIES = 5;

/** What consumers work with: anything that carries a client's session ({@link AsyncRabbitMQ} does). */
export type ConsumerHost = SessionHost;

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
  /** `stop()` began (called by you, by the client's `disconnect()`, or after an unrecoverable cancel). */
  stopping: [];
  /** The consumer has stopped: nothing of it is left on the broker. */
  stopped: [];
  /**
   * The broker ended the subscription — basic.cancel (queue deleted, RabbitMQ 4.3's `x-consumer-timeout`)
   * or a closed channel (RabbitMQ ≤ 4.2's consumer timeout: 406) — and the consumer subscribes again. Also
   * reported as an error (see `'error'`).
   */
  interrupted: [error: ConsumerInterruptedError];
}

/** Options of {@link Consumer.stop}. */
export interface StopOptions {
  /** How long to wait for in-flight handlers; then the channel is closed and the broker redelivers what is left. Default 10 000. */
  timeoutMs?: number;
  /**
   * Aborting it cuts the stop short, as if `timeoutMs` had passed now (the channel is closed; the broker
   * redelivers what is unsettled), and rejects this call at once with code `ERR_ABORTED`.
   */
  signal?: AbortSignal;
}

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
  private readonly session: Session;
  private readonly handler: ConsumeHandler<T>;
  private readonly opts: ResolvedOptions<T>;
  private readonly outcomes: Outcomes;
  private readonly counters: ClientCounters;
  /** @internal What the session calls with every generation, on its loss and on disconnect. */
  readonly participant: Participant;
  /** Index among the topology's server-named queues, whose name changes with every generation; -1 if not one. */
  private readonly serverNamed: number;
  private name: string;
  private status: ConsumerState = 'starting';
  /** The generation attached to (0: none). Work for any other generation is dropped. */
  private gen = 0;
  private conn: Connection | undefined;
  private channel: Channel | undefined;
  private tag: string | undefined;
  /** Attach / resubscribe steps run one at a time, in order. */
  private chain: Promise<void> = Promise.resolve();
  private initialAttach = false;
  private readonly deliveries: Deliveries;
  private reattachTimer: NodeJS.Timeout | undefined;
  private reattachFailures = 0;
  private stopping: Promise<void> | undefined;
  /** Aborted when a stop({ signal }) is aborted: the stop's waits end at once. */
  private readonly cutStop = new AbortController();
  /** Set while an attach / resubscribe step runs: its own failure handling decides what follows. */
  private stepping = false;
  /** Set for a stream consumer: its position in the stream. */
  private readonly stream: StreamCursor | undefined;
  /** A stream consumer's retry delays (streams retry in-process, without retry queues). */
  private readonly streamDelays: readonly number[] = [];
  /** The delivery limit of the queue on the broker of the current generation. */
  private deliveryLimit: DeliveryLimit | undefined;

  /** @internal Use {@link consume}. */
  constructor(host: ConsumerHost, queue: string, handler: ConsumeHandler<T>, options: ConsumeOptions<T> = {}) {
    super();
    this.session = host.session;
    this.name = queue;
    this.serverNamed = this.session.serverNamedQueues.indexOf(queue);
    const resolved = resolveOptions(queue, handler, options);
    const stream = resolveStreamOptions(queue, options, isStreamInConfig(this.session.config, queue));
    this.opts = stream === undefined ? resolved : { ...resolved, delays: [] };
    if (stream !== undefined) {
      const { [STREAM_OFFSET_ARGUMENT]: _, ...base } = resolved.consumeArguments;
      this.stream = new StreamCursor(stream, base, resolved.prefetch + resolved.concurrency);
      this.streamDelays = resolved.delays;
    }
    this.counters = countersOf(host);
    this.handler = observeHandler(this.counters, this, withOutcomes(handler));
    this.deliveries = new Deliveries(
      this.opts.concurrency,
      (entry) => this.process(entry),
      (err) => this.report(err, 'processing a message'),
      () => this.status === 'stopping' || this.status === 'stopped',
      this.stream === undefined ? undefined : (entry, kind, requeue) => this.streamSettled(entry, kind, requeue),
    );
    const self = this;
    this.outcomes = new Outcomes(
      {
        get queue() {
          return self.name;
        },
        session: this.session,
        settle: this.deliveries.settle,
        report: (err, what) => this.report(err, what),
        get stopping() {
          return self.status === 'stopping' || self.status === 'stopped';
        },
        redeclareCompanions: () => this.redeclareCompanions(),
      },
      this.opts as ResolvedOptions<unknown>,
    );
    this.participant = {
      attach: (conn, gen) => this.attach(conn, gen, this.initialAttach),
      detach: (gen) => this.detach(gen),
      stop: (deadline) => this.stopBy(deadline),
    };
  }

  /** The queue consumed; for a server-named queue of the topology, its name in the current generation. */
  get queue(): string {
    return this.name;
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
    return this.deliveries.inFlight;
  }

  /** Handlers running now. */
  get activeHandlers(): number {
    return this.deliveries.active;
  }

  /** @internal Deliveries wait unstarted until {@link releaseDeliveries} (see {@link consume}). */
  holdDeliveries(): void {
    this.deliveries.hold();
  }

  /** @internal Starts the deliveries held since {@link holdDeliveries}. */
  releaseDeliveries(): void {
    this.deliveries.release();
  }

  /** @internal Joins the session; rejects (and leaves) when the first subscription fails. */
  async start(): Promise<void> {
    this.initialAttach = true;
    this.counters.consumers++;
    const joining = this.session.join(this.participant);
    this.initialAttach = false;
    try {
      await joining;
    } catch (err) {
      this.session.leave(this.participant);
      this.status = 'stopped';
      this.counters.consumers--;
      this.gen = 0;
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
   * then closes the channel (the broker redelivers whatever is still unsettled) and leaves the client.
   * Idempotent.
   *
   * @example
   * ```ts
   * await consumer.stop({ timeoutMs: 5000 });
   * ```
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.stopping ??= this.doStop(Date.now() + (options.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS), CLOSE_WAIT_MS);
    if (options.signal === undefined) return this.stopping;
    return bounded(
      this.stopping,
      { signal: options.signal },
      {
        what: `stop() of the consumer of queue ${JSON.stringify(this.name)}`,
        timeout: () => new WarrenError('stop() has no timer of its own'),
        gaveUp: () => this.cutStop.abort(),
      },
    );
  }

  /** `await using consumer = await mq.consume(...)`: {@link stop} with the default deadline when the scope ends. */
  [asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** Never shows the connection (and its credentials) behind it. */
  [inspect.custom](): string {
    return `Consumer { queue: ${JSON.stringify(this.name)}, state: '${this.status}', consumerTag: ${JSON.stringify(this.tag)}, inFlight: ${this.deliveries.inFlight} }`;
  }

  /** The client's shutdown: finish by `deadline`, which is the client's, so nothing is added to it. */
  private stopBy(deadline: number): Promise<void> {
    if (this.stopping !== undefined) return within(this.stopping, left(deadline)).then(() => {});
    this.stopping = this.doStop(deadline, 0);
    return this.stopping;
  }

  private async doStop(deadline: number, closeWaitMs: number): Promise<void> {
    this.status = 'stopping';
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    // Every wait is bounded: a connection that went silent must not hold up disconnect().
    const cut = this.cutStop.signal;
    await within(this.chain, left(deadline), cut);
    // After an await: a listener that calls stop() again gets this stop, not a second one.
    this.announce('stopping');
    const ch = this.channel;
    const tag = this.tag;
    this.tag = undefined;
    if (ch?.isOpen && tag !== undefined) await within(ch.basicCancel(tag), left(deadline), cut);
    this.deliveries.requeueWaiting();
    const idle = await this.deliveries.waitIdle(left(deadline), cut);
    if (!idle) {
      this.session.logger.warn(
        { queue: this.name, inFlight: this.deliveries.inFlight },
        `warren: consumer of queue ${JSON.stringify(this.name)}: ${this.deliveries.inFlight} message(s) still unsettled at the stop deadline; closing the channel (the broker redelivers them)`,
      );
    }
    this.channel = undefined;
    this.conn = undefined;
    this.gen = 0;
    if (ch !== undefined) await within(ch.close(), Math.max(left(deadline), closeWaitMs));
    this.status = 'stopped';
    this.counters.consumers--;
    this.session.leave(this.participant);
    this.announce('stopped');
  }

  /** A life-cycle event; a listener that throws must not break the stop. */
  private announce(event: 'stopping' | 'stopped'): void {
    try {
      this.emit(event);
    } catch (err) {
      this.session.logger.error({ err }, `warren: a consumer '${event}' listener threw: ${errorText(err)}`);
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Subscription lifecycle. Every step re-checks, after each await, that it still works for the
  // generation it started for and that the consumer is not stopping.

  private alive(gen: number): boolean {
    return this.gen === gen && gen !== 0 && this.status !== 'stopping' && this.status !== 'stopped';
  }

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

  private attach(conn: Connection, gen: number, initial: boolean): Promise<void> {
    if (this.status === 'stopping' || this.status === 'stopped') return Promise.resolve();
    this.gen = gen;
    this.conn = conn;
    const step = this.enqueue(() => this.establish(conn, gen));
    if (initial) return step;
    return step.catch((err: unknown) => this.attachFailed(gen, conn, err));
  }

  private async establish(conn: Connection, gen: number): Promise<void> {
    if (!this.alive(gen) || !conn.isOpen) return;
    let ch = this.channel?.isOpen ? this.channel : undefined;
    if (ch !== undefined && this.tag !== undefined) return;
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    if (ch === undefined) {
      if (this.serverNamed >= 0) this.name = this.session.serverNamedQueues[this.serverNamed] ?? this.name;
      const major = brokerMajorOf(conn.serverProperties);
      this.deliveryLimit = resolveDeliveryLimit(this.session.config, this.name, major, this.opts.deliveryLimit);
      await declareCompanions(conn, this.name, this.opts as ResolvedOptions<unknown>);
      if (!this.alive(gen)) return;
      const opened = await conn.createChannel();
      if (!this.alive(gen)) {
        await opened.close().catch(() => {});
        return;
      }
      opened.on('close', (err) => this.onChannelClose(gen, opened, err));
      opened.on('cancel', (tag) => this.onServerCancel(gen, opened, tag));
      try {
        await opened.basicQos({ prefetchCount: this.opts.prefetch });
      } catch (err) {
        await opened.close().catch(() => {});
        throw err;
      }
      if (!this.alive(gen)) {
        await opened.close().catch(() => {});
        return;
      }
      this.channel = opened;
      ch = opened;
    }
    if (!(await this.subscribe(gen, ch))) return;
    this.reattachFailures = 0;
    this.status = 'active';
  }

  /** basic.consume on `ch`; false (and the subscription undone) when the consumer moved on meanwhile. */
  private async subscribe(gen: number, ch: Channel): Promise<boolean> {
    const { consumerTag } = await ch.basicConsume(
      {
        queue: this.name,
        consumerTag: this.opts.consumerTag,
        noAck: false,
        exclusive: this.opts.exclusive,
        arguments: this.stream?.arguments() ?? this.opts.consumeArguments,
      },
      (delivery) => this.onDelivery(ch, delivery),
    );
    if (!this.alive(gen) || this.channel !== ch) {
      // Stopped or superseded while subscribing: what arrives meanwhile is given back (see onDelivery).
      if (this.channel !== ch || this.status === 'stopped') await ch.close().catch(() => {});
      else if (ch.isOpen) await ch.basicCancel(consumerTag).catch(() => {});
      return false;
    }
    this.tag = consumerTag;
    return true;
  }

  private async redeclareCompanions(): Promise<boolean> {
    const conn = this.conn;
    if (conn === undefined || !conn.isOpen) return false;
    try {
      await declareCompanions(conn, this.name, this.opts as ResolvedOptions<unknown>);
      return true;
    } catch {
      return false;
    }
  }

  private attachFailed(gen: number, conn: Connection, err: unknown): void {
    if (!this.alive(gen) || !conn.isOpen) return; // the next generation starts over
    this.report(err, 'subscribing');
    this.status = 'recovering';
    this.scheduleReattach(gen, conn);
  }

  private scheduleReattach(gen: number, conn: Connection): void {
    clearTimeout(this.reattachTimer);
    const delay = Math.min(100 * 2 ** this.reattachFailures, 10_000);
    this.reattachFailures++;
    this.reattachTimer = setTimeout(() => {
      this.reattachTimer = undefined;
      if (this.alive(gen) && conn.isOpen && this.status === 'recovering') void this.attach(conn, gen, false);
    }, delay);
  }

  private detach(gen: number): void {
    if (gen !== this.gen) return;
    this.gen = 0;
    clearTimeout(this.reattachTimer);
    this.reattachTimer = undefined;
    this.channel = undefined;
    this.tag = undefined;
    this.conn = undefined;
    this.deliveries.dropDeadWaiting();
    if (this.status === 'active') this.status = 'recovering';
  }

  /** The consumer's channel closed. A channel-level error on a live connection: open a new one. */
  private onChannelClose(gen: number, ch: Channel, err: Error | undefined): void {
    if (this.channel !== ch) return;
    this.channel = undefined;
    this.tag = undefined;
    this.deliveries.dropDeadWaiting();
    const conn = this.conn;
    if (!this.alive(gen) || conn === undefined || !conn.isOpen) return;
    if (err === undefined || err instanceof ConnectionError) return;
    // During an attach step the step's own failure decides (a failed first subscription rejects consume()).
    if (this.stepping) return;
    this.interrupted(new ConsumerInterruptedError(this.name, closeReason(err), undefined, err));
    this.status = 'recovering';
    this.scheduleReattach(gen, conn);
  }

  /** basic.cancel from the broker (queue deleted...): re-declare the queue from the topology and subscribe again. */
  private onServerCancel(gen: number, ch: Channel, tag: string): void {
    if (this.channel !== ch || this.tag !== tag) return;
    this.tag = undefined;
    const conn = this.conn;
    if (!this.alive(gen) || conn === undefined) return;
    this.status = 'recovering';
    this.interrupted(new ConsumerInterruptedError(this.name, 'cancelled', tag));
    this.enqueue(() => this.resubscribe(gen, conn, ch)).catch((err: unknown) => this.report(err, 'resubscribing'));
  }

  /**
   * Re-declares the queue and subscribes again on `ch`, or — when `ch` is undefined (a 404 closed it) — on a
   * new channel. RabbitMQ 4 cancels a quorum queue's consumers before its deletion is complete: the
   * re-declare can land on the queue being deleted and basic.consume then fails with 404, so a queue of the
   * topology is declared again a few times, with a growing pause, before the consumer gives up.
   */
  private async resubscribe(gen: number, conn: Connection, ch: Channel | undefined, tries = 0): Promise<void> {
    const current = () =>
      this.alive(gen) &&
      this.status === 'recovering' &&
      (ch === undefined ? this.channel === undefined : this.channel === ch && ch.isOpen);
    if (!current()) return;
    try {
      const tmp = await conn.createChannel();
      try {
        await redeclareQueue(tmp, this.name, this.session.config);
      } finally {
        await tmp.close().catch(() => {});
      }
      await declareCompanions(conn, this.name, this.opts as ResolvedOptions<unknown>);
      if (!current()) return;
      if (ch === undefined) {
        await this.establish(conn, gen);
        return;
      }
      if (!(await this.subscribe(gen, ch))) return;
      this.status = 'active';
    } catch (err) {
      if (!this.alive(gen) || !conn.isOpen || this.status !== 'recovering') return; // a reconnect starts over
      const known = this.session.config.queues.some((q) => q.name === this.name);
      if (known && (err as { replyCode?: unknown }).replyCode === 404 && tries < REDECLARE_TRIES) {
        const next = ch?.isOpen && this.channel === ch ? ch : undefined;
        if (next === undefined) {
          this.channel = undefined;
          this.tag = undefined;
        }
        clearTimeout(this.reattachTimer);
        this.reattachTimer = setTimeout(
          () => {
            this.reattachTimer = undefined;
            if (!this.alive(gen) || !conn.isOpen || this.status !== 'recovering') return;
            this.enqueue(() => this.resubscribe(gen, conn, next, tries + 1)).catch((e: unknown) =>
              this.report(e, 'resubscribing'),
            );
          },
          100 * 2 ** tries,
        );
        return;
      }
      const why = known
        ? `re-declaring it failed: ${errorText(err)}`
        : `it is not in the topology and ${errorText(err)}`;
      this.report(new ConsumerCancelledError(this.name, why, err), 'resubscribing');
      void this.stop({ timeoutMs: DEFAULT_STOP_TIMEOUT_MS });
    }
  }

  // ------------------------------------------------------------------------------------------------------
  // Deliveries.

  private onDelivery(ch: Channel, delivery: IncomingDelivery): void {
    // Arriving between basic.cancel and its -ok, or on a subscription being undone: given back untouched.
    const accepted = this.status !== 'stopping' && this.status !== 'stopped' && this.channel === ch;
    if (accepted) this.counters.deliveries++;
    const entry: Entry = { channel: ch, delivery, settled: false };
    if (accepted && this.stream !== undefined) {
      const admission = this.stream.admit(entry);
      if (admission !== 'run') {
        if (admission === 'skip') ackCredit(ch, entry);
        return;
      }
    }
    this.deliveries.arrive(entry, accepted);
  }

  /** A stream delivery settled: the cursor records it and says what goes on the wire (only acks). */
  private streamSettled(entry: Entry, kind: SettleKind, requeue: boolean): SettleKind {
    const r = this.stream!.settled(entry, kind, requeue);
    const held = r.held;
    if (held !== undefined) queueMicrotask(() => this.releaseHeld(held, r.heldAs ?? 'skip'));
    return r.wire;
  }

  /** A stream delivery held while the same offset was handled from an earlier subscription. */
  private releaseHeld(entry: Entry, admission: Admission): void {
    if (admission === 'run' && this.status !== 'stopping' && this.status !== 'stopped') {
      this.deliveries.arrive(entry, true);
      return;
    }
    if (admission === 'run') this.stream!.settled(entry, 'nack', true);
    ackCredit(entry.channel, entry);
  }

  /**
   * Runs one delivery through the handler and the outcome policy. A handler that returns (or throws)
   * synchronously is settled right away, without a promise, an await or a closure: `undefined` then.
   */
  private process(entry: Entry): Promise<void> | undefined {
    const d = entry.delivery;
    const attempt = attemptOf(d.properties.headers);
    const o = this.opts;
    const limited = this.stream === undefined ? atDeliveryLimit(this.deliveryLimit, d.properties.headers) : undefined;
    if (limited !== undefined) return this.outcomes.atDeliveryLimit(entry, attempt, limited);
    if (d.decodeError !== undefined) {
      const why = `its content header could not be decoded: ${errorText(d.decodeError)}`;
      return this.outcomes.undecodable(entry, attempt, why, d.decodeError);
    }
    // A raw payload needs no decoding step (and no result object per message).
    const decoded = o.json || o.schema !== undefined ? decodePayload<T>(d.body, o.json, o.schema) : undefined;
    if (decoded instanceof Promise) return decoded.then((r) => this.run(entry, attempt, r));
    return this.run(entry, attempt, decoded);
  }

  private run(entry: Entry, attempt: number, decoded: Decoded<T> | undefined): Promise<void> | undefined {
    if (decoded !== undefined && !decoded.ok) {
      return this.outcomes.undecodable(entry, attempt, decoded.error, decoded.cause);
    }
    const value = decoded === undefined ? (entry.delivery.body as unknown as T) : decoded.value;
    let result: unknown;
    try {
      result = this.invoke(entry, value, attempt);
    } catch (err) {
      // A microtask later, as for a rejected promise (as before the synchronous path existed): the
      // failure path (reports, retries) never runs inside the delivery's dispatch.
      return Promise.reject(err).then(undefined, (e: unknown) => this.handlerFailed(entry, attempt, value, e));
    }
    if (!isThenable(result)) {
      this.handled(entry);
      return undefined;
    }
    return Promise.resolve(result).then(
      () => this.handled(entry),
      (err: unknown) => this.handlerFailed(entry, attempt, value, err),
    );
  }

  /** Calls the handler with attempt `n` of the delivery; what it returns (a promise, or anything). */
  private invoke(entry: Entry, value: T, n: number): unknown {
    const o = this.opts;
    const msg = new Message<T>(this.name, entry, value, n, o.manual, this.deliveries.settle);
    return o.handlerTimeoutMs === undefined ? this.handler(msg) : this.invokeWithTimeout(msg, o.handlerTimeoutMs);
  }

  private handled(entry: Entry): void {
    this.counters.processed++;
    if (!this.opts.manual) this.deliveries.settle(entry, 'ack', false);
  }

  private handlerFailed(entry: Entry, attempt: number, value: T, err: unknown): Promise<void> {
    if (this.stream !== undefined && !entry.settled) {
      return this.streamFailed(entry, attempt, err, async (n) => {
        await this.invoke(entry, value, n);
      });
    }
    return this.outcomes.failed(entry, attempt, err);
  }

  /** A stream handler failed: retried in-process (a stream cannot requeue), then the failure policy. */
  private async streamFailed(
    entry: Entry,
    attempt: number,
    err: unknown,
    call: (n: number) => Promise<void>,
  ): Promise<void> {
    const o = this.opts;
    const d = entry.delivery;
    const outcome = await retryInProcess(
      {
        attempts: o.attempts,
        delays: this.streamDelays,
        call,
        retrying: (n, cause) =>
          this.report(
            new HandlerError(
              {
                queue: this.name,
                attempt: n,
                attempts: o.attempts,
                deliveryTag: d.deliveryTag,
                messageId: d.properties.messageId,
                outcome: 'retry',
              },
              cause,
            ),
            'handler',
          ),
        halted: () => this.status === 'stopping' || this.status === 'stopped' || entry.settled,
      },
      attempt,
      err,
    );
    if (outcome === undefined) {
      if (!o.manual) this.deliveries.settle(entry, 'ack', false);
    } else if (outcome === 'halted') {
      this.deliveries.settle(entry, 'nack', true); // read again by the next subscription
    } else {
      // Attempts exhausted: the policy dead-letters (or, with deadLetter: false, discards and reports).
      await this.outcomes.failed(entry, Math.max(outcome.attempt, o.attempts), outcome.error);
    }
  }

  /** The broker ended the subscription: the `'interrupted'` event, and reported as an error. */
  private interrupted(err: ConsumerInterruptedError): void {
    try {
      this.emit('interrupted', err);
    } catch (listenerError) {
      this.session.logger.error(
        { err: listenerError },
        `warren: a consumer 'interrupted' listener threw: ${errorText(listenerError)}`,
      );
    }
    this.report(err, 'subscription interrupted');
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

  /** An error on the consumer's `'error'` event when listened to, else to the client (its `'error'` event / logger). */
  private report(err: unknown, what: string): void {
    observeFailure(this.counters, err);
    if (this.listenerCount('error') > 0) {
      this.session.logger.warn(
        { err, queue: this.name },
        `warren: consumer of queue ${JSON.stringify(this.name)}: ${what}: ${errorText(err)}`,
      );
      try {
        this.emit('error', err);
      } catch (listenerError) {
        this.session.logger.error(
          { err: listenerError },
          `warren: a consumer 'error' listener threw: ${errorText(listenerError)}`,
        );
      }
      return;
    }
    this.session.report(err, `consumer of queue ${JSON.stringify(this.name)}: ${what}`);
  }
}

/**
 * Subscribes `handler` to `queue` and resolves once the subscription is active (or, when the client is not
 * connected yet, once it is registered: it subscribes on connect). See the module documentation for the
 * outcome policy (ack, retry queues, dead-letter target).
 *
 * @param mq the client ({@link AsyncRabbitMQ}), or anything else that carries its session.
 * @param queue an existing queue (typically declared by the client's topology), or a name from
 *   `mq.serverNamedQueues`, which the consumer follows to its new name on every reconnect.
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
  // Deliveries may arrive with the subscription's consume-ok, before the caller has the consumer to
  // attach its 'error' listener to: they wait until the caller's `await` has run (a macrotask later).
  consumer.holdDeliveries();
  try {
    await consumer.start();
  } finally {
    setImmediate(() => consumer.releaseDeliveries());
  }
  return consumer;
}
