import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import type { Channel } from '../connection/channel.js';
import type { Connection } from '../connection/connection.js';
import { asyncDispose } from '../connection/dispose.js';
import type { FieldTable } from '../protocol/field-table.js';
import { configWarnings, formatIssue, type RabbitMQConfig, type ResolvedConfig, validateConfig } from './config.js';
import { type BroadcastOptions, type BroadcastSubscription, subscribeBroadcast } from './consume/broadcast.js';
import { type ConsumeHandler, type ConsumeOptions, type Consumer, consume } from './consume/consumer.js';
import { type MessageStream, type MessagesOptions, messages } from './consume/iterate.js';
import { type ReapOptions, type ReapResult, reapQueue } from './consume/reap.js';
import { ClientClosedError } from './errors.js';
import type { MessageBody, PublishOptions } from './message.js';
import { observeEvents } from './observe/client.js';
import { type ClientStats, countersOf, snapshot } from './observe/stats.js';
import { publishChecked } from './publish-checked.js';
import type { PublishBufferOptions } from './publisher.js';
import type { RetryOptions } from './retry.js';
import { rpc } from './rpc/client.js';
import { rpcServer } from './rpc/server.js';
import type { RpcHandler, RpcOptions, RpcPayload, RpcServerOptions } from './rpc/types.js';
import type { CallOptions } from './session/deadline.js';
import { ClientSession, type CredentialsProvider } from './session/session.js';
import type { SessionEvents, SessionHost, SessionState } from './session/types.js';
import {
  type ConnectionOptions,
  type ResolvedSettings,
  redactUrl,
  resolveSettings,
  SettingsError,
} from './settings.js';

/** Options of {@link AsyncRabbitMQ}: how to connect, plus publishing and reconnection behaviour. */
export interface AsyncRabbitMQOptions extends ConnectionOptions {
  /** Largest frame to propose (default 131072; the URL's `frame_max` when this is not set). */
  frameMax?: number;
  /** Most channels to propose, 1..65535 (default 2047; the URL's `channel_max` when this is not set). */
  channelMax?: number;
  /**
   * SASL mechanism: `'PLAIN'` (user and password, the default) or `'EXTERNAL'` (the TLS client
   * certificate: mutual TLS, with the `tls` option's `cert` and `key` or the URL's `certfile`/`keyfile`).
   * The URL's `auth_mechanism` when this is not set.
   */
  mechanism?: 'PLAIN' | 'EXTERNAL';
  /** Extra client properties announced to the broker (shown in the management UI). */
  clientProperties?: FieldTable;
  /**
   * Asked before every connection attempt (the first connect and each reconnect) for the username and
   * password to log in with, e.g. a short-lived OAuth 2 token; its answer wins over the URL's credentials.
   * Its result is never logged or printed. See also {@link AsyncRabbitMQ.updateSecret}.
   */
  credentials?: CredentialsProvider;
  /** Limits of the buffer that holds messages until the broker confirms them. */
  publish?: PublishBufferOptions;
  /** Backoff of `connect()`: default 10 attempts, 500 ms doubling to 30 s. */
  connectRetry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'>;
  /**
   * Backoff between reconnect attempts after a connection is lost (which never give up): default 100 ms
   * doubling to 10 s. The backoff starts over only once a session has stayed up for `stableMs` (default
   * 5000), so a broker that accepts connections and drops them at once is not hammered.
   */
  reconnect?: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'> & {
    /**
     * How long a session must stay up, in ms, before the reconnect backoff starts over from `baseDelayMs`. Default
     * 5000.
     */
    stableMs?: number;
  };
  /** Default deadline of `disconnect()` for the whole shutdown. Default 10 000 ms. */
  disconnectTimeoutMs?: number;
}

/** Options of {@link AsyncRabbitMQ.connect}: give up waiting on abort or after `timeoutMs`. */
export type ConnectCallOptions = CallOptions;

/** Options of {@link AsyncRabbitMQ.disconnect}. */
export interface DisconnectOptions {
  /**
   * One deadline for the whole shutdown: consumers stopped (in parallel), confirms drained, the close
   * handshake. When it passes the socket is dropped and whatever is still pending rejects with
   * ClientClosedError. Default: the `disconnectTimeoutMs` option (10 000 ms).
   */
  timeoutMs?: number;
}

/** Where the client is in its life. */
export type ClientState = 'idle' | 'connecting' | 'ready' | 'reconnecting' | 'disconnecting';

/** Events of {@link AsyncRabbitMQ}. It emits `'error'` only when a listener is registered. */
export type AsyncRabbitMQEvents = SessionEvents;

const PUBLIC_STATE: Record<SessionState, ClientState> = {
  idle: 'idle',
  connecting: 'connecting',
  ready: 'ready',
  reconnecting: 'reconnecting',
  closing: 'disconnecting',
  closed: 'idle',
};

/**
 * The async RabbitMQ client: topology as data, a connection that heals itself, and publishing that
 * loses nothing.
 *
 * - `connect()` tries every URL in turn with backoff and resolves once the topology is declared;
 *   concurrent callers share one attempt.
 * - A lost connection is re-established automatically (all URLs, backoff), the topology re-declared,
 *   consumers re-subscribed, and every message written but not confirmed published again.
 * - `publishMessage()` resolves only when the broker confirmed the message.
 * - The connection's life is one internal state machine (the client session); this class only wires it to
 *   publishing, consumers and RPC.
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
export class AsyncRabbitMQ extends EventEmitter<AsyncRabbitMQEvents> implements SessionHost {
  /** The validated topology, with defaults filled in. */
  readonly config: ResolvedConfig;
  /** @internal The connection's life; what consumers and RPC work with. */
  readonly session: ClientSession;
  readonly #settings: ResolvedSettings;
  readonly #disconnectTimeoutMs: number;
  #userChannel: { gen: number; channel: Promise<Channel> } | undefined;

  /**
   * @param config topology to declare on every connect; validated now (throws ConfigValidationError).
   * @param options connection settings; anything left out comes from the environment
   *   (`RABBITMQ_URL(S)`, `RABBITMQ_HOST`, `RABBITMQ_PORT`, `RABBITMQ_DEFAULT_USER`, `RABBITMQ_DEFAULT_PASS`, `RABBITMQ_VHOST`).
   */
  constructor(config: RabbitMQConfig = {}, options: AsyncRabbitMQOptions = {}) {
    super();
    this.config = validateConfig(config);
    // The config's vhost is part of the topology, so it wins over the environment; an explicit option wins over both.
    this.#settings = resolveSettings({ ...options, vhost: options.vhost ?? config.vhost });
    checkEngineOptions(options);
    this.#disconnectTimeoutMs = options.disconnectTimeoutMs ?? 10_000;
    this.session = new ClientSession(this.config, this.#settings, options, observeEvents(this));
    // What validates but a broker may refuse (RabbitMQ 4.3's transient non-exclusive queues...): said now,
    // not first discovered as a connect() failure.
    for (const w of configWarnings(this.config)) {
      this.#settings.logger.warn({ path: w.path }, `warren: config ${formatIssue(w)}`);
    }
  }

  /** The resolved connection settings (URLs may hold passwords: do not log them unredacted). */
  get settings(): ResolvedSettings {
    return this.#settings;
  }

  /** Where the client is in its life. */
  get state(): ClientState {
    return PUBLIC_STATE[this.session.state];
  }

  /** True while a connection to the broker is open. */
  get isConnected(): boolean {
    return this.session.current?.conn.isOpen ?? false;
  }

  /** True when connected, the topology is declared and messages can be written now (not blocked). */
  get isReady(): boolean {
    const conn = this.session.current?.conn;
    return this.session.publishing && conn?.isOpen === true && conn.blocked === undefined;
  }

  /** The current engine connection, if any (changes on reconnect). */
  get connection(): Connection | undefined {
    return this.session.current?.conn;
  }

  /** Names the broker gave to server-named queues of the config (`name: ''`), in config order; new on every reconnect. */
  get serverNamedQueues(): readonly string[] {
    return this.session.serverNamedQueues;
  }

  /** Messages held until confirmed (buffered while disconnected plus in flight). */
  get pendingPublishes(): number {
    return this.session.publisher.size;
  }

  /**
   * Running totals since the client was made and gauges of now, as a plain object (cheap: the counters
   * are kept all along, this only copies them). The same figures the `warren/otel` metrics report.
   * @example
   * ```ts
   * const { published, confirmed, pendingPublishes, failed, deadLettered } = mq.stats();
   * ```
   */
  stats(): ClientStats {
    return snapshot(countersOf(this), this.session.publisher.counters, this.session.publisher.size);
  }

  /**
   * Connects, declares the topology and resolves when ready. Safe to call concurrently and repeatedly.
   *
   * With `signal` or `timeoutMs`, this call stops waiting when the signal aborts (code `ERR_ABORTED`, the
   * signal's reason as `cause`) or the time passes (`ConnectTimeoutError`, code `ERR_CONNECT_TIMEOUT`).
   * When no other `connect()` call is still waiting for the first connection, the attempt is given up
   * too: the client goes back to idle, with nothing left running. A reconnect is never given up this way.
   * @example
   * ```ts
   * await mq.connect({ timeoutMs: 15_000 });               // fail fast at start-up
   * await mq.connect({ signal: AbortSignal.timeout(5000) });
   * ```
   */
  connect(options: ConnectCallOptions = {}): Promise<void> {
    return this.session.connect(options);
  }

  /**
   * Renews the secret (an OAuth 2 access token, as the password) of the open connection, without
   * reconnecting: AMQP `connection.update-secret` (RabbitMQ 3.8+). The secret is also what later
   * reconnects log in with — unless the `credentials` option is set, which is then asked at each reconnect
   * and wins. Never logged or printed.
   * @throws ClientClosedError when not connected.
   * @example
   * ```ts
   * oauth.on('token', (token) => mq.updateSecret(token, 'token refresh').catch(log.error));
   * ```
   */
  updateSecret(secret: string, reason: string): Promise<void> {
    return this.session.updateSecret(secret, reason);
  }

  /** Declares the topology again on the current connection (it is declared on every connect anyway). */
  declareInfrastructure(): Promise<void> {
    return this.session.redeclare();
  }

  /**
   * Publishes a message and resolves once the broker confirmed it.
   *
   * `message` may be a string (text/plain), bytes, or a plain object (sent as JSON, application/json).
   * Every message gets a `messageId` (a UUIDv7 unless given) that stays the same if it has to be published
   * again after a reconnect, so consumers can drop duplicates. While disconnected the message waits in a
   * bounded buffer; see {@link PublishBufferOptions}.
   *
   * Every call has a deadline: `timeoutMs`, default the `publishTimeoutMs` option (30 s), covers the whole
   * call — waiting for room, for a connection, for an unblocked broker, for the confirm. `signal` aborts
   * it. Either way the call rejects at once; a message that was never written leaves the buffer and is
   * never sent. A message already written cannot be taken back: it may still reach the queue, and it stays
   * counted in {@link pendingPublishes} until the broker confirms it or the channel dies (it is never
   * written again), so the buffer's limits stay honest.
   *
   * @throws UnroutableError when `mandatory` (default) and no queue is bound for it.
   * @throws PublishNackedError when the broker refuses it.
   * @throws PublishTimeoutError (`ERR_PUBLISH_TIMEOUT`) when not confirmed by the deadline.
   * @throws AbortedError (`ERR_ABORTED`, `cause` the signal's reason) when `signal` aborted first.
   * @throws ClientClosedError when not connected (before `connect()`, after `disconnect()`).
   * @throws MessageTooLargeError when the body is over `maxMessageBytes` (nothing is sent).
   * @throws ChannelError when the broker closed the publish channel over this message (e.g. 404: no such exchange).
   * @throws SchemaValidationError when `options.schema` refuses the message (nothing is sent).
   * @example
   * ```ts
   * await mq.publishMessage('jobs', { task: 'resize', id: 7 });
   * await mq.publishMessage('order.created', Buffer.from(bytes), { exchange: 'orders', headers: { 'x-tenant': 'acme' } });
   * // in an HTTP handler: never longer than 2 s, and not at all once the client went away
   * await mq.publishMessage('audit', event, { timeoutMs: 2000, signal: req.signal });
   * ```
   */
  publishMessage<T extends MessageBody = MessageBody>(
    routingKey: string,
    // Typed by the explicit type argument or the schema, never narrowed by the message itself.
    message: NoInfer<T>,
    options: PublishOptions<T> = {},
  ): Promise<void> {
    return publishChecked(this.session, routingKey, message, options);
  }

  /**
   * Consumes `queue` with `handler`: ack when it resolves; when it throws, a broker-side retry after the
   * delay (retry queues), and once attempts run out the dead-letter target. Survives reconnects; a
   * server-named queue of the topology (a name from {@link serverNamedQueues}) is followed to its new name.
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

  /** `for await (const msg of mq.messages(queue, { signal, prefetch }))`: see {@link messages}. */
  messages<T = unknown>(queue: string, options?: MessagesOptions<T>): MessageStream<T> {
    return messages<T>(this, queue, options);
  }

  /** Every message of `exchange` to this instance, across reconnects: see {@link subscribeBroadcast}. */
  subscribeBroadcast<T = unknown>(
    exchange: string,
    handler: ConsumeHandler<T>,
    options?: BroadcastOptions<T>,
  ): Promise<BroadcastSubscription<T>> {
    return subscribeBroadcast<T>(this, exchange, handler, options);
  }

  /** Deletes `queue` only if nothing consumes it (quorum queues too): see {@link reapQueue}. */
  reapQueue(queue: string, options?: ReapOptions): Promise<ReapResult> {
    return reapQueue(this, queue, options);
  }

  /**
   * Request/reply over direct reply-to: publishes `payload` and resolves with the reply (JSON decoded).
   * @example
   * ```ts
   * const price = await mq.rpc<number>('pricing', { sku: 'A1' }, { timeoutMs: 2000 });
   * ```
   */
  rpc<Res = unknown, Req extends RpcPayload = RpcPayload>(
    routingKey: string,
    payload: Req,
    options?: RpcOptions<Res, Req>,
  ): Promise<Res> {
    return rpc<Res, Req>(this, routingKey, payload, options);
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
    options?: RpcServerOptions<Req, Res>,
  ): Promise<Consumer<Buffer>> {
    return rpcServer(this, queue, handler, options);
  }

  /**
   * A channel for your own use with prefetch 1 (the original module's behaviour), opened on first call
   * and reused. It belongs to the current connection: after a reconnect, call again for a new one.
   */
  async getChannel(): Promise<Channel> {
    const live = this.session.current;
    if (live === undefined || !live.conn.isOpen) {
      throw new ClientClosedError(`getChannel: not connected (state ${this.state})`);
    }
    const cached = this.#userChannel;
    if (cached?.gen === live.gen) {
      const ch = await cached.channel.catch(() => undefined);
      if (ch?.isOpen && this.session.current?.gen === live.gen) return ch;
    }
    const opening = live.conn.createChannel().then(async (ch) => {
      await ch.basicQos({ prefetchCount: 1 });
      return ch;
    });
    const entry = { gen: live.gen, channel: opening };
    this.#userChannel = entry;
    opening.catch(() => {
      if (this.#userChannel === entry) this.#userChannel = undefined;
    });
    return opening;
  }

  /**
   * Stops consumers gracefully (in parallel), waits for outstanding confirms, then closes the connection,
   * all within one deadline (`timeoutMs`, default the `disconnectTimeoutMs` option): when it passes, the
   * socket is dropped. Messages it could not send are rejected with ClientClosedError, never dropped.
   * Idempotent; leaves no sockets or timers.
   * @example
   * ```ts
   * await mq.disconnect({ timeoutMs: 5000 });
   * ```
   */
  disconnect(options: DisconnectOptions = {}): Promise<void> {
    this.#userChannel = undefined;
    return this.session.close(options.timeoutMs ?? this.#disconnectTimeoutMs);
  }

  /**
   * `await using mq = new AsyncRabbitMQ(...)`: {@link disconnect} with the default deadline when the scope ends.
   * @example
   * ```ts
   * {
   *   await using mq = new AsyncRabbitMQ(config, options);
   *   await mq.connect();
   *   await mq.publishMessage('jobs', job);
   * } // disconnected here
   * ```
   */
  [asyncDispose](): Promise<void> {
    return this.disconnect();
  }

  /** @internal Reports a background failure: 'error' when someone listens, the logger otherwise. */
  reportError(err: unknown, what: string): void {
    this.session.report(err, what);
  }

  /** Never shows credentials: only the state and the URLs with their passwords masked. */
  [inspect.custom](): string {
    const urls = this.#settings.urls.map((u) => redactUrl(u)).join(', ');
    return `AsyncRabbitMQ { state: '${this.state}', urls: [${urls}], queues: ${this.config.queues.length}, pendingPublishes: ${this.pendingPublishes} }`;
  }
}

/** The engine's options, checked when the client is made rather than at its first connect. */
function checkEngineOptions(o: AsyncRabbitMQOptions): void {
  if (o.mechanism !== undefined && o.mechanism !== 'PLAIN' && o.mechanism !== 'EXTERNAL') {
    throw new SettingsError(`mechanism must be 'PLAIN' or 'EXTERNAL', got ${JSON.stringify(o.mechanism)}`);
  }
  if (o.channelMax !== undefined && (!Number.isInteger(o.channelMax) || o.channelMax < 1 || o.channelMax > 65_535)) {
    throw new SettingsError(`channelMax must be an integer from 1 to 65535, got ${String(o.channelMax)}`);
  }
  if (o.credentials !== undefined && typeof o.credentials !== 'function') {
    throw new SettingsError(
      `credentials must be a function returning { username, password }, got ${typeof o.credentials}`,
    );
  }
}
