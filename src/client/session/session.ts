/**
 * The one state machine of a client's connection (see {@link SessionState}): it opens connections,
 * numbers them (one generation each), sets each up — connection, publish channel, topology, then the
 * participants (consumers, RPC) — and only then calls it ready; it notices the loss, runs the single
 * reconnect loop, and shuts everything down within one deadline.
 *
 * Why it is shaped like this: a connection lost *during* set-up is just a failed attempt of the one loop
 * (never a second loop), callbacks of an older generation are ignored, and the backoff is only forgiven
 * once a session has stayed up for a while, so a broker that accepts and then drops connections is not
 * hammered.
 * @module
 */
import { inspect } from 'node:util';
import { connect } from '../../connection/connect.js';
import type { Connection } from '../../connection/connection.js';
import { type ConnectOptions, parseAmqpUrl } from '../../connection/options.js';
import { ConnectionError, WarrenError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import type { ResolvedConfig } from '../config.js';
import { ClientClosedError, ConnectTimeoutError } from '../errors.js';
import { buildMessage, type MessageBody, type PublishMessageOptions } from '../message.js';
import { warnUnheard } from '../observe/client.js';
import { observePublish, publishObserved } from '../observe/publish.js';
import { type OutgoingMessage, type PublishBufferOptions, Publisher } from '../publisher.js';
import { backoffDelay, connRetry, type RetryOptions } from '../retry.js';
import { type Logger, type ResolvedSettings, redactUrl } from '../settings.js';
import { declareTopology } from '../topology.js';
import { bounded, type CallOptions, closeBy, destroyConnection, left, sleep, within } from './deadline.js';
import { PublishChannel } from './publish-channel.js';
import type { EventSink, Generation, Participant, Session, SessionState } from './types.js';

/** Username and password to log in with, as a {@link CredentialsProvider} returns them. */
export interface Credentials {
  username: string;
  password: string;
}

/**
 * Called before every connection attempt (the first connect and each reconnect) for the credentials to log
 * in with, e.g. a fresh OAuth 2 token from a vault. What it returns wins over the URL's user and password.
 * A provider that throws fails that attempt (retried like any other).
 */
export type CredentialsProvider = () => Credentials | Promise<Credentials>;

/** Options of a session (the facade's options, minus the connection settings). */
export interface SessionOptions {
  /** Explicit heartbeat option (it wins over the URL's `heartbeat`, which wins over the default). */
  heartbeat?: number;
  /** Explicit connection timeout option (it wins over the URL's `connection_timeout`). */
  connectionTimeout?: number;
  frameMax?: number;
  /** Most channels to propose (1..65535); the URL's `channel_max` otherwise; default 2047. */
  channelMax?: number;
  /** SASL mechanism; the URL's `auth_mechanism` otherwise; default PLAIN. */
  mechanism?: 'PLAIN' | 'EXTERNAL';
  /** Extra client properties announced to the broker (shown in the management UI). */
  clientProperties?: FieldTable;
  /** Asked for the credentials at every (re)connect. */
  credentials?: CredentialsProvider;
  publish?: PublishBufferOptions;
  connectRetry?: Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'>;
  reconnect?: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter'> & {
    /** How long a session must stay up before the reconnect backoff starts from the beginning again. Default 5000 ms. */
    stableMs?: number;
  };
}

/** Longest a failed set-up attempt waits for its connection's close handshake. */
const SETUP_CLOSE_MS = 2000;
const DEFAULT_STABLE_MS = 5000;

/** Which transitions exist; anything else is a bug of this module, and throws. */
const TRANSITIONS: Record<SessionState, readonly SessionState[]> = {
  idle: ['connecting'],
  connecting: ['ready', 'closing', 'closed'],
  ready: ['reconnecting', 'closing'],
  reconnecting: ['ready', 'closing'],
  closing: ['closed'],
  closed: ['connecting'],
};

/** Fails a set-up step as soon as its connection closes or the session is shut down. */
interface SetupGuard {
  race<T>(p: Promise<T>): Promise<T>;
  /** Throws the reason the set-up cannot go on, if any. */
  check(): void;
  dispose(): void;
}

function guard(conn: Connection, signal: AbortSignal): SetupGuard {
  let reason: Error | undefined;
  let fire!: (err: Error) => void;
  const broken = new Promise<never>((_, reject) => {
    fire = (err) => {
      reason ??= err;
      reject(reason);
    };
  });
  broken.catch(() => {});
  // The close settles the setup's pending calls too, with errors that say more (topology declare names
  // the queue a refused feature was about): fire after them, so the raced call's own error wins.
  let deferred: NodeJS.Immediate | undefined;
  let closed: Error | undefined;
  const onClose = (err: Error | undefined) => {
    closed ??=
      err ?? new ConnectionError('the connection closed while it was being set up', { code: 'ERR_CONNECTION_CLOSED' });
    const why = closed;
    deferred ??= setImmediate(() => fire(why));
  };
  const onAbort = () => fire(new ClientClosedError('disconnect() was called while connecting'));
  conn.once('close', onClose);
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  else if (!conn.isOpen) onClose(undefined);
  return {
    race: <T>(p: Promise<T>) => {
      p.catch(() => {});
      return Promise.race([p, broken]);
    },
    check: () => {
      const why = reason ?? closed;
      if (why) throw why;
    },
    dispose: () => {
      clearImmediate(deferred);
      conn.off('close', onClose);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

/** The session of one client. @internal Created by `AsyncRabbitMQ`. */
export class ClientSession implements Session {
  readonly publisher: Publisher;
  private st: SessionState = 'idle';
  /** The latest generation number handed out. */
  private gen = 0;
  private live: Generation | undefined;
  /** The generation being set up, if any. */
  private pending: Generation | undefined;
  /** Every connection this session opened that has not closed yet, set up or given up on. */
  private readonly opened = new Set<Connection>();
  private names: string[] = [];
  /** Every participant, with the generation it is attached to (0: none). */
  private readonly members = new Map<Participant, number>();
  private readonly channels: PublishChannel;
  /** The one loop (connect or reconnect) running now, if any. */
  private loop: Promise<void> | undefined;
  private connecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private abort = new AbortController();
  private urlIndex = 0;
  /** Failed attempts and short-lived sessions in a row: the backoff's position. */
  private streak = 0;
  private stableTimer: NodeJS.Timeout | undefined;
  private blockedTimer: NodeJS.Timeout | undefined;
  private waiters: Array<{ resolve(g: Generation): void; reject(err: Error): void }> = [];
  /** connect() callers still waiting for the first generation (see {@link connect}). */
  private connectCallers = 0;
  /** The secret last given to {@link updateSecret}: the password of later connections. Hard-private: never printed. */
  #secret: string | undefined;

  constructor(
    readonly config: ResolvedConfig,
    private readonly settings: ResolvedSettings,
    private readonly options: SessionOptions,
    private readonly events: EventSink,
  ) {
    this.publisher = new Publisher(options.publish);
    this.publisher.close(new ClientClosedError('not connected: call connect() first'));
    this.channels = new PublishChannel(this.publisher, {
      logger: settings.logger,
      report: (err, what) => this.report(err, what),
      fail: (gen, err) => this.fail(gen, err),
    });
  }

  get logger(): Logger {
    return this.settings.logger;
  }

  get state(): SessionState {
    return this.st;
  }

  get current(): Generation | undefined {
    return this.st === 'ready' ? this.live : undefined;
  }

  get serverNamedQueues(): readonly string[] {
    return this.names;
  }

  /** Ready, with an open publish channel. */
  get publishing(): boolean {
    return this.st === 'ready' && this.channels.isOpen;
  }

  publish(routingKey: string, body: MessageBody, options: PublishMessageOptions = {}): Promise<void> {
    let outgoing: OutgoingMessage;
    try {
      outgoing = buildMessage(routingKey, body, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (publishObserved()) {
      return observePublish(this.events, outgoing, (m) => this.publisher.publish(m, options.timeoutMs, options.signal));
    }
    return this.publisher.publish(outgoing, options.timeoutMs, options.signal);
  }

  join(p: Participant): Promise<void> {
    this.members.set(p, 0);
    const live = this.live;
    if (this.st !== 'ready' || live === undefined || !live.conn.isOpen) return Promise.resolve();
    this.members.set(p, live.gen);
    return p.attach(live.conn, live.gen);
  }

  leave(p: Participant): void {
    this.members.delete(p);
  }

  ready(): Promise<Generation> {
    if (this.st === 'ready' && this.live) return Promise.resolve(this.live);
    if (this.st === 'connecting' || this.st === 'reconnecting') {
      return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
    return Promise.reject(new ClientClosedError(`not connected (state ${this.st}): call connect() first`));
  }

  report(err: unknown, what: string): void {
    this.logger.error({ err }, `warren: ${what}: ${(err as Error)?.message ?? String(err)}`);
    if (this.events.listenerCount('error') > 0) this.events.emit('error', err);
    else warnUnheard(this.events, this.logger, err);
  }

  /**
   * Connects (trying every URL with backoff) and resolves once ready. Concurrent callers share one attempt.
   * A caller whose `signal` aborts or whose `timeoutMs` passes stops waiting (ERR_ABORTED /
   * ERR_CONNECT_TIMEOUT); when no caller is left waiting for a first connect, the attempt is given up too
   * (the client is back to idle, nothing left running). A reconnect under way is never given up this way.
   */
  connect(options: CallOptions = {}): Promise<void> {
    const shared = this.connectShared();
    if (options.signal === undefined && options.timeoutMs === undefined) {
      if (this.st === 'connecting') this.connectCallers++;
      return shared;
    }
    const first = this.st === 'connecting';
    if (first) this.connectCallers++;
    return bounded(shared, options, {
      what: 'connect()',
      timeout: (ms) => new ConnectTimeoutError(`connect() did not finish within ${ms} ms (state ${this.st})`),
      gaveUp: (err) => {
        if (!first || this.connecting !== shared) return;
        if (--this.connectCallers === 0 && this.st === 'connecting') this.abort.abort(err);
      },
    });
  }

  private connectShared(): Promise<void> {
    switch (this.st) {
      case 'ready':
        return Promise.resolve();
      case 'connecting':
        return this.connecting!;
      case 'reconnecting':
        return this.ready().then(() => {});
      case 'closing':
        return Promise.reject(new ClientClosedError('disconnect() is in progress'));
    }
    this.move('connecting');
    this.abort = new AbortController();
    this.connectCallers = 0;
    this.publisher.reopen();
    const signal = this.abort.signal;
    const connecting = connRetry(() => this.establish(signal), {
      ...this.options.connectRetry,
      name: 'connect',
      signal,
      logger: this.logger,
    }).then(
      () => {
        this.connecting = undefined;
      },
      (err: unknown) => {
        this.connecting = undefined;
        if (this.st === 'connecting') {
          this.move('closed');
          this.publisher.close(new ClientClosedError('connect() failed', err));
          this.failWaiters(new ClientClosedError('connect() failed', err));
        }
        throw err;
      },
    );
    this.connecting = connecting;
    this.track(connecting);
    return connecting;
  }

  /**
   * Sends `secret` (an OAuth 2 token...) to the broker on the ready connection (connection.update-secret,
   * RabbitMQ 3.8+), and logs in with it on later reconnects (unless a credentials provider is configured:
   * then the provider is asked at each reconnect, and its answer wins).
   */
  async updateSecret(secret: string, reason: string): Promise<void> {
    if (typeof secret !== 'string' || typeof reason !== 'string') {
      throw new WarrenError('updateSecret(secret, reason) takes two strings', {
        code: 'ERR_INVALID_ARGUMENT',
        recoverable: false,
      });
    }
    const live = this.current;
    if (live === undefined || !live.conn.isOpen) {
      throw new ClientClosedError(`updateSecret: not connected (state ${this.st})`);
    }
    await live.conn.updateSecret(secret, reason);
    this.#secret = secret;
  }

  /** Declares the topology again on the ready connection. */
  async redeclare(): Promise<void> {
    const live = this.current;
    if (live === undefined || !live.conn.isOpen) {
      throw new ClientClosedError(`declareInfrastructure: not connected (state ${this.st})`);
    }
    this.names = await this.declare(live.conn);
  }

  /**
   * Shuts down within `timeoutMs` in all: participants stopped in parallel, confirms drained, the close
   * handshake; then the socket is dropped and whatever is still pending rejects with ClientClosedError.
   */
  close(timeoutMs: number): Promise<void> {
    if (this.closing) return this.closing;
    if (this.st === 'idle' || this.st === 'closed') return Promise.resolve();
    const closing = this.shutdown(timeoutMs).finally(() => {
      this.closing = undefined;
    });
    this.closing = closing;
    return closing;
  }

  [inspect.custom](): string {
    return `ClientSession { state: ${this.st}, generation: ${this.live?.gen ?? 'none'}, urls: [${this.settings.urls.map((u) => redactUrl(u)).join(', ')}] }`;
  }

  // ------------------------------------------------------------------------------------------------------

  /** The one transition function. */
  private move(to: SessionState): void {
    const from = this.st;
    if (!TRANSITIONS[from].includes(to)) throw new WarrenError(`session: no transition ${from} -> ${to}`);
    this.st = to;
  }

  private track(loop: Promise<void>): void {
    const tracked = loop.catch(() => {});
    this.loop = tracked;
    tracked.then(() => {
      if (this.loop === tracked) this.loop = undefined;
    });
  }

  /** One round over every URL, starting with the one that worked last. */
  private async establish(signal: AbortSignal): Promise<void> {
    const urls = this.settings.urls;
    let last: unknown;
    for (let i = 0; i < urls.length; i++) {
      const index = (this.urlIndex + i) % urls.length;
      try {
        await this.setUp(urls[index]!, signal);
        this.urlIndex = index;
        return;
      } catch (err) {
        last = err;
        if (signal.aborted) throw err;
        if (err instanceof WarrenError && !err.recoverable) throw err;
        const url = redactUrl(urls[index]!);
        this.logger.warn({ err, url }, `warren: cannot connect to ${url}: ${(err as Error).message}`);
      }
    }
    throw last;
  }

  /** Opens one connection and sets it up completely, or fails (and closes it) as one attempt. */
  private async setUp(url: string, signal: AbortSignal): Promise<void> {
    const conn = await connect({ ...(await this.connectOptions(url)), signal });
    this.opened.add(conn);
    conn.once('close', () => this.opened.delete(conn));
    const gen = ++this.gen;
    const attempt: Generation = { conn, gen };
    this.pending = attempt;
    conn.on('close', (err) => this.onClose(gen, err));
    conn.on('blocked', (reason) => this.onBlocked(gen, reason));
    conn.on('unblocked', () => this.onUnblocked(gen));
    const g = guard(conn, signal);
    try {
      // Recovery order: connection, channels, topology, then whatever consumes.
      await g.race(this.channels.attach(conn, gen));
      this.names = await g.race(this.declare(conn));
      await this.attachAll(attempt, g);
      g.check();
    } catch (err) {
      if (this.pending === attempt) this.pending = undefined;
      this.detachAll(gen, err instanceof Error ? err : new ConnectionError(String(err)));
      await closeBy(conn, Date.now() + SETUP_CLOSE_MS);
      throw err;
    } finally {
      g.dispose();
    }
    this.pending = undefined;
    this.live = attempt;
    // The loop ends here, synchronously: a loss from now on starts the next one.
    this.loop = undefined;
    this.move('ready');
    this.channels.start(gen);
    clearTimeout(this.stableTimer);
    this.stableTimer = setTimeout(() => {
      this.stableTimer = undefined;
      this.streak = 0;
    }, this.options.reconnect?.stableMs ?? DEFAULT_STABLE_MS);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve(attempt);
    this.logger.info({ url: redactUrl(url) }, `warren: connected to ${redactUrl(url)}`);
    this.events.emit('connected', { url: redactUrl(url) });
  }

  /**
   * The engine's options for one attempt at `url`. Precedence: an explicit option, then the URL's query
   * parameter, then the default; credentials from the provider, else the last updated secret, else the URL.
   */
  private async connectOptions(url: string): Promise<ConnectOptions> {
    const s = this.settings;
    const o = this.options;
    const { tls: urlTls, ...fromUrl } = parseAmqpUrl(url);
    const out: ConnectOptions = {
      ...fromUrl,
      heartbeat: o.heartbeat !== undefined ? s.heartbeat : (fromUrl.heartbeat ?? s.heartbeat),
      connectionTimeout:
        o.connectionTimeout !== undefined ? s.connectionTimeout : (fromUrl.connectionTimeout ?? s.connectionTimeout),
    };
    if (urlTls !== undefined || s.tls !== undefined) {
      out.tls = { ...(typeof urlTls === 'object' ? urlTls : {}), ...s.tls };
    }
    if (s.connectionName !== undefined) out.connectionName = s.connectionName;
    if (o.frameMax) out.frameMax = o.frameMax;
    if (o.channelMax !== undefined) out.channelMax = o.channelMax;
    if (o.mechanism !== undefined) out.mechanism = o.mechanism;
    if (o.clientProperties !== undefined) out.clientProperties = o.clientProperties;
    if (this.#secret !== undefined) out.password = this.#secret;
    if (o.credentials !== undefined) {
      let creds: Credentials;
      try {
        creds = await o.credentials();
      } catch (err) {
        throw new ConnectionError(`the credentials provider failed: ${(err as Error)?.message ?? String(err)}`, {
          code: 'ERR_CREDENTIALS',
          recoverable: true,
          cause: err,
        });
      }
      if (typeof creds?.username !== 'string' || typeof creds.password !== 'string') {
        throw new ConnectionError('the credentials provider must return { username: string, password: string }', {
          code: 'ERR_CREDENTIALS',
          recoverable: false,
        });
      }
      out.username = creds.username;
      out.password = creds.password;
    }
    return out;
  }

  private async declare(conn: Connection): Promise<string[]> {
    const ch = await conn.createChannel();
    try {
      return await declareTopology(ch, this.config);
    } finally {
      await ch.close().catch(() => {});
    }
  }

  /** Attaches every participant not yet on `attempt`, in the order they joined (late joiners included). */
  private async attachAll(attempt: Generation, g: SetupGuard): Promise<void> {
    for (;;) {
      g.check();
      let next: Participant | undefined;
      for (const [p, gen] of this.members) {
        if (gen !== attempt.gen) {
          next = p;
          break;
        }
      }
      if (next === undefined) return;
      this.members.set(next, attempt.gen);
      try {
        await g.race(next.attach(attempt.conn, attempt.gen));
      } catch (err) {
        g.check();
        this.report(err, 'attaching after connect');
      }
    }
  }

  private detachAll(gen: number, err: Error): void {
    this.channels.detach(gen, err);
    for (const [p, g] of this.members) {
      if (g !== gen) continue;
      this.members.set(p, 0);
      p.detach(gen, err);
    }
  }

  private onClose(gen: number, err: ConnectionError | undefined): void {
    // During set-up the attempt's guard fails the attempt; the loop retries it.
    if (this.live?.gen !== gen) return;
    this.lost(gen, err ?? new ConnectionError('the connection was closed', { code: 'ERR_CONNECTION_CLOSED' }));
  }

  /** Generation `gen` cannot go on: end it (and close its connection). */
  private fail(gen: number, err: Error): void {
    const conn = this.live?.gen === gen ? this.live.conn : this.pending?.gen === gen ? this.pending.conn : undefined;
    if (conn === undefined) return;
    if (this.live?.gen === gen) this.lost(gen, err);
    void closeBy(conn, Date.now() + SETUP_CLOSE_MS);
  }

  /** The ready generation is gone: put in-flight messages back, tell participants, start the one loop. */
  private lost(gen: number, err: Error): void {
    if (this.live?.gen !== gen) return;
    this.live = undefined;
    clearTimeout(this.blockedTimer);
    this.blockedTimer = undefined;
    // A session that did not stay up counts as a failure: the backoff goes on where it was.
    if (this.stableTimer !== undefined) this.streak++;
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    this.detachAll(gen, err);
    if (this.st !== 'ready') return; // closing: the shutdown owns what follows
    // The node that just failed is the last one to try again: fail over to the next URL first.
    this.urlIndex = (this.urlIndex + 1) % this.settings.urls.length;
    this.logger.warn({ err }, `warren: connection lost: ${err.message}`);
    this.move('reconnecting');
    this.events.emit('disconnected', err);
    if (this.loop === undefined) this.track(this.reconnect(this.abort.signal));
  }

  private async reconnect(signal: AbortSignal): Promise<void> {
    const backoff = { baseDelayMs: 100, maxDelayMs: 10_000, ...this.options.reconnect };
    let delayMs = this.streak > 0 ? backoffDelay(this.streak, backoff) : 0;
    for (let attempt = 1; ; attempt++) {
      if (delayMs > 0) await sleep(delayMs, signal);
      if (signal.aborted) return;
      try {
        await this.establish(signal);
        return;
      } catch (error) {
        if (signal.aborted) return;
        this.streak++;
        delayMs = backoffDelay(this.streak, backoff);
        this.logger.warn(
          { err: error, attempt, delayMs },
          `warren: reconnect attempt ${attempt} failed: ${(error as Error)?.message}; next in ${delayMs} ms`,
        );
        this.events.emit('reconnecting', { attempt, delayMs, error });
      }
    }
  }

  private onBlocked(gen: number, reason: string): void {
    if (this.live?.gen !== gen) return;
    this.publisher.pause();
    this.events.emit('blocked', reason);
    clearTimeout(this.blockedTimer);
    const limit = this.settings.blockedConnectionTimeout;
    this.blockedTimer = setTimeout(() => {
      this.blockedTimer = undefined;
      const err = new ConnectionError(
        `the broker kept the connection blocked (${reason}) for more than ${limit} ms: reconnecting`,
        { code: 'ERR_BLOCKED_TIMEOUT' },
      );
      this.fail(gen, err);
    }, limit);
  }

  private onUnblocked(gen: number): void {
    if (this.live?.gen !== gen) return;
    clearTimeout(this.blockedTimer);
    this.blockedTimer = undefined;
    this.publisher.resume();
    this.events.emit('unblocked');
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.move('closing');
    this.abort.abort(new ClientClosedError('disconnect() was called'));
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    // An attempt under way sees the abort at once and closes its own connection; one that cannot is dropped.
    await within(this.loop, left(deadline));
    const stray = this.pending;
    if (stray !== undefined) destroyConnection(stray.conn);
    const live = this.live;
    const stops = [...this.members.keys()].map((p) =>
      p.stop(deadline).catch((err: unknown) => this.report(err, 'stopping a consumer')),
    );
    await within(Promise.all(stops), left(deadline));
    let drained = true;
    if (live?.conn.isOpen && live.conn.blocked === undefined) drained = await this.publisher.drain(left(deadline));
    this.publisher.close(
      new ClientClosedError(
        drained
          ? 'disconnect() was called before this message could be sent'
          : `disconnect() gave up after ${timeoutMs} ms before the broker confirmed this message`,
      ),
    );
    this.failWaiters(new ClientClosedError('disconnect() was called before the connection was (re-)established'));
    clearTimeout(this.blockedTimer);
    this.blockedTimer = undefined;
    this.live = undefined;
    if (live !== undefined) this.detachAll(live.gen, new ClientClosedError('disconnected'));
    // The live connection, and any attempt still closing after it was given up on (a broker that stopped
    // reading holds its close-ok back): all closed by the same deadline, the socket dropped at it.
    await Promise.all([...this.opened].map((conn) => closeBy(conn, deadline)));
    // With every connection gone, the connect loop ends at once: connect() settles before disconnect() does.
    await within(this.loop, Math.max(left(deadline), 100));
    this.move('closed');
    this.events.emit('disconnected', undefined);
  }

  private failWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
