import { EventEmitter } from 'node:events';
import type { Channel } from '../connection/channel.js';
import { connect } from '../connection/connect.js';
import type { Connection } from '../connection/connection.js';
import { parseAmqpUrl } from '../connection/options.js';
import { ConnectionError, WarrenError } from '../protocol/errors.js';
import { type RabbitMQConfig, type ResolvedConfig, validateConfig } from './config.js';
import { type ConsumeHandler, type ConsumeOptions, type Consumer, consume } from './consumer.js';
import { ClientClosedError } from './errors.js';
import { buildMessage, type MessageBody, type PublishMessageOptions } from './message.js';
import { type OutgoingMessage, type PublishBufferOptions, Publisher } from './publisher.js';
import { backoffDelay, connRetry, type RetryOptions } from './retry.js';
import { type RpcHandler, type RpcOptions, type RpcPayload, type RpcServerOptions, rpc, rpcServer } from './rpc.js';
import { type ConnectionOptions, type ResolvedSettings, redactUrl, resolveSettings } from './settings.js';
import { declareTopology } from './topology.js';

/** Options of {@link AsyncRabbitMQ}: how to connect, plus publishing and reconnection behaviour. */
export interface AsyncRabbitMQOptions extends ConnectionOptions {
  /** Largest frame to propose (default 131072). */
  frameMax?: number;
  /** Limits of the buffer that holds messages until the broker confirms them. */
  publish?: PublishBufferOptions;
  /** Backoff of `connect()`: default 10 attempts, 500 ms doubling to 30 s. */
  connectRetry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'>;
  /** Backoff between reconnect attempts after a connection is lost (which never give up): default 100 ms doubling to 10 s. */
  reconnect?: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'>;
  /** How long `disconnect()` waits for outstanding confirms and consumers. Default 10 000 ms. */
  disconnectTimeoutMs?: number;
}

/** Where the client is in its life. */
export type ClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'disconnecting';

/** Events of {@link AsyncRabbitMQ}. It emits `'error'` only when a listener is registered. */
export interface AsyncRabbitMQEvents {
  /** Connected (or reconnected) and topology declared; `url` has its password masked. */
  connected: [info: { url: string }];
  /** The connection was lost (`error` set) or closed by `disconnect()`. */
  disconnected: [error: Error | undefined];
  /** A reconnect attempt failed; the next one follows after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; error: unknown }];
  blocked: [reason: string];
  unblocked: [];
  /** Something failed in the background (a consumer could not resubscribe...). */
  error: [error: unknown];
}

/**
 * Something that lives on the connection and must be rebuilt after every reconnect (consumers, RPC).
 * @internal
 */
export interface SessionParticipant {
  /** Called once per (re)connect, after the topology is declared. */
  attach(connection: Connection): Promise<void>;
  /** The connection is gone; drop per-connection state (delivery tags, channels). */
  detach(error: Error): void;
  /** Graceful stop on `disconnect()`. */
  stop?(timeoutMs: number): Promise<void>;
}

/**
 * The async RabbitMQ client: topology as data, a connection that heals itself, and publishing that
 * loses nothing.
 *
 * - `connect()` tries every URL in turn with backoff and resolves once the topology is declared;
 *   concurrent callers share one attempt.
 * - A lost connection is re-established automatically (all URLs, backoff), the topology re-declared,
 *   consumers re-subscribed, and every message written but not confirmed published again.
 * - `publishMessage()` resolves only when the broker confirmed the message.
 *
 * @example
 * ```ts
 * const mq = new AsyncRabbitMQ({
 *   exchanges: [{ name: 'orders', type: ExchangeType.TOPIC }],
 *   queues: [{ name: 'orders.created', exchange: 'orders', routingKey: 'order.created' }],
 * }, { urls: 'amqp://guest:guest@localhost:5672/' });
 * await mq.connect();
 * await mq.publishMessage('order.created', { id: 42 }, { exchange: 'orders' });
 * await mq.disconnect();
 * ```
 */
export class AsyncRabbitMQ extends EventEmitter<AsyncRabbitMQEvents> {
  /** The validated topology, with defaults filled in. */
  readonly config: ResolvedConfig;
  /** The resolved connection settings (URLs may hold passwords: do not log them unredacted). */
  readonly settings: ResolvedSettings;
  private readonly options: AsyncRabbitMQOptions;
  private readonly publisher: Publisher;
  private readonly participants = new Set<SessionParticipant>();
  private clientState: ClientState = 'idle';
  private conn: Connection | undefined;
  private publishChannel: Channel | undefined;
  private userChannel: Promise<Channel> | undefined;
  private connecting: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;
  private disconnecting: Promise<void> | undefined;
  private abort = new AbortController();
  private urlIndex = 0;
  private blockedTimer: NodeJS.Timeout | undefined;
  private readyWaiters: Array<{ resolve(): void; reject(err: Error): void }> = [];
  private names: string[] = [];

  /**
   * @param config topology to declare on every connect; validated now (throws ConfigValidationError).
   * @param options connection settings; anything left out comes from the environment
   *   (`RABBITMQ_URL(S)`, `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_DEFAULT_USER`, `RABBITMQ_DEFAULT_PASS`, `RABBITMQ_VHOST`).
   */
  constructor(config: RabbitMQConfig = {}, options: AsyncRabbitMQOptions = {}) {
    super();
    this.config = validateConfig(config);
    this.options = options;
    // The config's vhost is part of the topology, so it wins over the environment; an explicit option wins over both.
    this.settings = resolveSettings({ ...options, vhost: options.vhost ?? config.vhost });
    this.publisher = new Publisher(options.publish);
    this.publisher.onNackingChannel = (ch) => this.replacePublishChannel(ch);
    this.publisher.close(new ClientClosedError('not connected: call connect() first'));
  }

  /** Where the client is in its life. */
  get state(): ClientState {
    return this.clientState;
  }

  /** True while a connection to the broker is open. */
  get isConnected(): boolean {
    return this.conn?.isOpen ?? false;
  }

  /** True when connected, the topology is declared and messages can be written now (not blocked). */
  get isReady(): boolean {
    return this.clientState === 'ready' && (this.publishChannel?.isOpen ?? false) && this.conn?.blocked === undefined;
  }

  /** The current engine connection, if any (changes on reconnect). */
  get connection(): Connection | undefined {
    return this.conn;
  }

  /** Names the broker gave to server-named queues of the config (`name: ''`), in config order. */
  get serverNamedQueues(): readonly string[] {
    return this.names;
  }

  /** Messages held until confirmed (buffered while disconnected plus in flight). */
  get pendingPublishes(): number {
    return this.publisher.size;
  }

  /** Connects, declares the topology and resolves when ready. Safe to call concurrently and repeatedly. */
  connect(): Promise<void> {
    switch (this.clientState) {
      case 'ready':
        return Promise.resolve();
      case 'connecting':
        return this.connecting!;
      case 'reconnecting':
        return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
      case 'disconnecting':
        return Promise.reject(new ClientClosedError('disconnect() is in progress'));
    }
    this.clientState = 'connecting';
    this.abort = new AbortController();
    this.publisher.reopen();
    const { logger } = this.settings;
    this.connecting = connRetry(() => this.establish(), {
      ...this.options.connectRetry,
      name: 'connect',
      signal: this.abort.signal,
      logger,
    }).then(
      () => {
        this.connecting = undefined;
      },
      (err: unknown) => {
        this.connecting = undefined;
        if (this.clientState === 'connecting') {
          this.clientState = 'idle';
          this.publisher.close(new ClientClosedError('connect() failed', err));
        }
        throw err;
      },
    );
    return this.connecting;
  }

  /** Declares the topology again on the current connection (it is declared on every connect anyway). */
  async declareInfrastructure(): Promise<void> {
    const conn = this.requireConnection('declareInfrastructure');
    const ch = await conn.createChannel();
    try {
      this.names = await declareTopology(ch, this.config);
    } finally {
      await ch.close();
    }
  }

  /**
   * Publishes a message and resolves once the broker confirmed it.
   *
   * `message` may be a string (text/plain), bytes, or a plain object (sent as JSON, application/json).
   * Every message gets a `messageId` (a UUID unless given) that stays the same if it has to be published
   * again after a reconnect, so consumers can drop duplicates. While disconnected the message waits in a
   * bounded buffer; see {@link PublishBufferOptions}.
   *
   * @throws UnroutableError when `mandatory` (default) and no queue is bound for it.
   * @throws PublishNackedError when the broker refuses it.
   * @throws PublishTimeoutError when the buffer stayed full for `publishTimeoutMs`.
   * @throws MessageTooLargeError when the body is over `maxMessageBytes` (nothing is sent).
   * @throws ChannelError when the broker closed the publish channel over this message (e.g. 404: no such exchange).
   * @throws ClientClosedError when not connected (before `connect()`, after `disconnect()`).
   * @example
   * ```ts
   * await mq.publishMessage('jobs', { task: 'resize', id: 7 });
   * await mq.publishMessage('order.created', Buffer.from(bytes), { exchange: 'orders', headers: { 'x-tenant': 'acme' } });
   * ```
   */
  publishMessage(routingKey: string, message: MessageBody, options: PublishMessageOptions = {}): Promise<void> {
    let outgoing: OutgoingMessage;
    try {
      outgoing = buildMessage(routingKey, message, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.publisher.publish(outgoing);
  }

  /**
   * Consumes `queue` with `handler`: ack when it resolves; when it throws, a broker-side retry after the
   * delay (retry queues), and once attempts run out the dead-letter target. Survives reconnects.
   * See {@link consume} for every option.
   * @example
   * ```ts
   * const consumer = await mq.consume<Order>('orders.created', async (msg) => save(msg.value), {
   *   json: true, prefetch: 10, retry: { attempts: 3, delayMs: 5000 },
   * });
   * await consumer.stop({ timeoutMs: 10_000 });
   * ```
   */
  consume<T = unknown>(queue: string, handler: ConsumeHandler<T>, options?: ConsumeOptions<T>): Promise<Consumer<T>> {
    return consume(this, queue, handler, options);
  }

  /**
   * Request/reply over direct reply-to: publishes `payload` and resolves with the reply (JSON decoded).
   * @example
   * ```ts
   * const price = await mq.rpc<number>('pricing', { sku: 'A1' }, { timeoutMs: 2000 });
   * ```
   */
  rpc<R = unknown>(routingKey: string, payload: RpcPayload, options?: RpcOptions): Promise<R> {
    return rpc<R>(this, routingKey, payload, options);
  }

  /**
   * Answers RPC requests arriving on `queue`: the handler's result goes back to the caller.
   * @example
   * ```ts
   * await mq.rpcServer<{ sku: string }, number>('pricing', async ({ sku }) => lookup(sku));
   * ```
   */
  rpcServer<Req = unknown, Res = unknown>(
    queue: string,
    handler: RpcHandler<Req, Res>,
    options?: RpcServerOptions<Req>,
  ): Promise<Consumer<Buffer>> {
    return rpcServer(this, queue, handler, options);
  }

  /**
   * A channel for your own use with prefetch 1 (the original module's behaviour), opened on first call
   * and reused. It belongs to the current connection: after a reconnect, call again for a new one.
   */
  async getChannel(): Promise<Channel> {
    const conn = this.requireConnection('getChannel');
    const cached = this.userChannel;
    if (cached) {
      const ch = await cached.catch(() => undefined);
      if (ch?.isOpen && this.conn === conn) return ch;
    }
    const opening = conn.createChannel().then(async (ch) => {
      await ch.basicQos({ prefetchCount: 1 });
      return ch;
    });
    this.userChannel = opening;
    opening.catch(() => {
      if (this.userChannel === opening) this.userChannel = undefined;
    });
    return opening;
  }

  /**
   * Stops consumers gracefully, waits (up to `disconnectTimeoutMs`) for outstanding confirms, then closes
   * the connection. Messages it could not send are rejected with ClientClosedError, never dropped.
   * Idempotent; leaves no sockets or timers.
   */
  disconnect(): Promise<void> {
    if (this.disconnecting) return this.disconnecting;
    if (this.clientState === 'idle') return Promise.resolve();
    this.disconnecting = this.shutdown().finally(() => {
      this.disconnecting = undefined;
    });
    return this.disconnecting;
  }

  /** @internal Registers something to rebuild on every reconnect; attaches at once when connected. */
  async addParticipant(p: SessionParticipant): Promise<void> {
    this.participants.add(p);
    if (this.conn?.isOpen && this.clientState === 'ready') await p.attach(this.conn);
  }

  /** @internal */
  removeParticipant(p: SessionParticipant): void {
    this.participants.delete(p);
  }

  /** @internal Reports a background failure: 'error' when someone listens, the logger otherwise. */
  reportError(err: unknown, what: string): void {
    this.settings.logger.error({ err }, `warren: ${what}: ${(err as Error)?.message ?? String(err)}`);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  private async shutdown(): Promise<void> {
    const timeoutMs = this.options.disconnectTimeoutMs ?? 10_000;
    this.clientState = 'disconnecting';
    this.abort.abort(new ClientClosedError('disconnect() was called'));
    // An attempt already under way finishes (bounded by connectionTimeout) and then sees the abort, so no
    // connection it opens outlives disconnect().
    await this.connecting?.catch(() => {});
    await this.reconnecting;
    for (const p of this.participants) {
      try {
        await p.stop?.(timeoutMs);
      } catch (err) {
        this.reportError(err, 'stopping a consumer');
      }
    }
    if (this.conn?.isOpen && this.conn.blocked === undefined) await this.publisher.drain(timeoutMs);
    this.publisher.close(new ClientClosedError('disconnect() was called before the broker confirmed this message'));
    this.failReadyWaiters(new ClientClosedError('disconnect() was called before the connection was re-established'));
    clearTimeout(this.blockedTimer);
    const conn = this.conn;
    this.conn = undefined;
    this.publishChannel = undefined;
    this.userChannel = undefined;
    if (conn) {
      for (const p of this.participants) p.detach(new ClientClosedError('disconnected'));
      await conn.close();
    }
    this.clientState = 'idle';
    this.emit('disconnected', undefined);
  }

  /** One round over every URL, starting with the one that worked last. */
  private async establish(): Promise<void> {
    const urls = this.settings.urls;
    let last: unknown;
    for (let i = 0; i < urls.length; i++) {
      const index = (this.urlIndex + i) % urls.length;
      try {
        await this.openSession(urls[index]!);
        this.urlIndex = index;
        return;
      } catch (err) {
        last = err;
        if (err instanceof WarrenError && !err.recoverable) throw err;
        this.settings.logger.warn(
          { err, url: redactUrl(urls[index]!) },
          `warren: cannot connect to ${redactUrl(urls[index]!)}: ${(err as Error).message}`,
        );
      }
    }
    throw last;
  }

  private async openSession(url: string): Promise<void> {
    const s = this.settings;
    const conn = await connect({
      ...parseAmqpUrl(url),
      heartbeat: s.heartbeat,
      connectionTimeout: s.connectionTimeout,
      ...(s.tls ? { tls: s.tls } : {}),
      ...(s.connectionName ? { connectionName: s.connectionName } : {}),
      ...(this.options.frameMax ? { frameMax: this.options.frameMax } : {}),
      signal: this.abort.signal,
    });
    try {
      if (this.abort.signal.aborted) throw new ClientClosedError('disconnect() was called while connecting');
      const topology = await conn.createChannel();
      this.names = await declareTopology(topology, this.config);
      await topology.close();
      const pub = await conn.createChannel();
      await pub.confirmSelect();
      if (this.abort.signal.aborted) throw new ClientClosedError('disconnect() was called while connecting');
      this.watch(conn, pub);
      this.conn = conn;
      this.publishChannel = pub;
      this.userChannel = undefined;
      for (const p of this.participants) {
        try {
          await p.attach(conn);
        } catch (err) {
          this.reportError(err, 'resubscribing after connect');
        }
      }
      if (this.conn !== conn || !conn.isOpen)
        throw new ConnectionError('the connection closed while it was being set up');
      this.clientState = 'ready';
      this.publisher.attach(pub);
      const waiters = this.readyWaiters;
      this.readyWaiters = [];
      for (const w of waiters) w.resolve();
      s.logger.info({ url: redactUrl(url) }, `warren: connected to ${redactUrl(url)}`);
      this.emit('connected', { url: redactUrl(url) });
    } catch (err) {
      if (this.conn === conn) this.conn = undefined;
      await conn.close().catch(() => {});
      throw err;
    }
  }

  private watch(conn: Connection, pub: Channel): void {
    conn.on('close', (err) =>
      this.lost(conn, err ?? new ConnectionError('the connection was closed', { code: 'ERR_CONNECTION_CLOSED' })),
    );
    conn.on('blocked', (reason) => {
      this.publisher.pause();
      this.emit('blocked', reason);
      clearTimeout(this.blockedTimer);
      this.blockedTimer = setTimeout(() => {
        const err = new ConnectionError(
          `the broker kept the connection blocked (${reason}) for more than ${this.settings.blockedConnectionTimeout} ms: reconnecting`,
          { code: 'ERR_BLOCKED_TIMEOUT' },
        );
        this.lost(conn, err);
        conn.close().catch(() => {});
      }, this.settings.blockedConnectionTimeout);
    });
    conn.on('unblocked', () => {
      clearTimeout(this.blockedTimer);
      this.publisher.resume();
      this.emit('unblocked');
    });
    pub.on('close', (err) => this.publishChannelClosed(conn, pub, err));
  }

  /** The publish channel closed while its connection may still be open (e.g. 404 on a missing exchange). */
  private publishChannelClosed(conn: Connection, pub: Channel, err: Error | undefined): void {
    if (this.publishChannel !== pub) return;
    this.publishChannel = undefined;
    if (err === undefined || err instanceof ConnectionError || this.conn !== conn || !conn.isOpen) return;
    // The publisher finds the message that caused the close and rejects it alone.
    this.publisher.detach(err);
    this.openPublishChannel(conn);
  }

  /**
   * The publish channel keeps nacking (see Publisher.onNackingChannel): publish on a new channel instead.
   * What was in flight goes back to the queue first (the old channel's late confirms are still honoured).
   */
  private replacePublishChannel(pub: Channel): void {
    const conn = this.conn;
    if (this.publishChannel !== pub || conn === undefined || !conn.isOpen) return;
    this.settings.logger.warn({}, 'warren: the publish channel keeps nacking; replacing it');
    this.publishChannel = undefined;
    this.publisher.detach(new WarrenError('publish channel replaced', { code: 'ERR_CHANNEL_REPLACED' }));
    pub.close().catch(() => {});
    this.openPublishChannel(conn);
  }

  private openPublishChannel(conn: Connection): void {
    conn
      .createChannel()
      .then(async (ch) => {
        await ch.confirmSelect();
        if (this.conn !== conn) {
          await ch.close();
          return;
        }
        ch.on('close', (e) => this.publishChannelClosed(conn, ch, e));
        this.publishChannel = ch;
        this.publisher.attach(ch);
      })
      .catch((e: unknown) => {
        this.reportError(e, 'reopening the publish channel');
        this.lost(conn, e instanceof Error ? e : new ConnectionError(String(e)));
        conn.close().catch(() => {});
      });
  }

  /** The connection is gone: put in-flight messages back, tell participants, start reconnecting. */
  private lost(conn: Connection, err: Error): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.publishChannel = undefined;
    this.userChannel = undefined;
    clearTimeout(this.blockedTimer);
    this.publisher.detach(err);
    this.publisher.resume();
    for (const p of this.participants) p.detach(err);
    if (this.clientState === 'disconnecting' || this.clientState === 'idle') return;
    // The node that just failed is the last one to try again: fail over to the next URL first.
    this.urlIndex = (this.urlIndex + 1) % this.settings.urls.length;
    this.settings.logger.warn({ err }, `warren: connection lost: ${err.message}`);
    this.emit('disconnected', err);
    this.clientState = 'reconnecting';
    this.reconnecting = this.reconnectLoop().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private async reconnectLoop(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = { baseDelayMs: 100, maxDelayMs: 10_000, ...this.options.reconnect };
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        await this.establish();
        return;
      } catch (error) {
        if (signal.aborted) return;
        const delayMs = backoffDelay(attempt, backoff);
        this.settings.logger.warn(
          { err: error, attempt, delayMs },
          `warren: reconnect attempt ${attempt} failed: ${(error as Error)?.message}; next in ${delayMs} ms`,
        );
        this.emit('reconnecting', { attempt, delayMs, error });
        await sleep(delayMs, signal);
      }
    }
  }

  private failReadyWaiters(err: Error): void {
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w.reject(err);
  }

  private requireConnection(what: string): Connection {
    const conn = this.conn;
    if (!conn?.isOpen) throw new ClientClosedError(`${what}: not connected (state ${this.clientState})`);
    return conn;
  }
}

/** Waits `ms`, or less if `signal` aborts; leaves no timer either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
