/**
 * Request/reply over RabbitMQ's direct reply-to: {@link rpc} calls, {@link rpcServer} answers.
 *
 * The caller side keeps one channel per client that consumes the `amq.rabbitmq.reply-to` pseudo-queue
 * (no-ack) and publishes every request itself — RabbitMQ only routes replies to the channel that
 * published the request. Calls are matched to replies by a random correlation id; a call that gets no
 * reply within `timeoutMs` rejects with {@link RpcTimeoutError} and its entry is removed, so a late reply is
 * dropped. Requests are `mandatory`: when no queue is bound for them the broker returns them and the call
 * rejects at once with {@link RpcNoServerError}. When the connection is lost, calls waiting for a reply
 * reject with the recoverable {@link RpcConnectionLostError}; the channel is re-established on the next
 * connection.
 *
 * @example
 * ```ts
 * const server = await rpcServer(mq, 'math.add', ({ a, b }: { a: number; b: number }) => ({ sum: a + b }));
 * const { sum } = await rpc<{ sum: number }>(mq, 'math.add', { a: 1, b: 2 }, { timeoutMs: 5000 });
 * await server.stop();
 * ```
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Channel, Delivery, ReturnedMessage } from '../connection/channel.js';
import type { Connection } from '../connection/connection.js';
import { ChannelError, ConnectionError, WarrenError } from '../protocol/errors.js';
import type { FieldTable } from '../protocol/field-table.js';
import type { AsyncRabbitMQ, SessionParticipant } from './async-rabbitmq.js';
import { type ConsumeOptions, type Consumer, type ConsumerHost, consume } from './consumer.js';
import {
  ConsumerOptionsError,
  errorText,
  HandlerTimeoutError,
  RpcConnectionLostError,
  RpcNoServerError,
  RpcRemoteError,
  RpcTimeoutError,
} from './consumer-errors.js';
import {
  type ConsumeMessage,
  decodePayload,
  ERROR_CODE_HEADER,
  ERROR_HEADER,
  headerErrorText,
  type Schema,
} from './consumer-message.js';
import { ClientClosedError } from './errors.js';

/** The pseudo-queue of RabbitMQ's direct reply-to. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
/** Default `timeoutMs` of {@link rpc}. */
export const DEFAULT_RPC_TIMEOUT_MS = 30_000;

/** What {@link rpc} sends: bytes as they are, a string as text/plain, anything else as JSON. */
export type RpcPayload = string | Buffer | Uint8Array | Record<string, unknown> | unknown[] | number | boolean | null;

/** Options of {@link rpc}. */
export interface RpcOptions {
  /** Exchange to publish the request to. Default `''` (the default exchange: the routing key names the queue). */
  exchange?: string;
  /** How long to wait for the reply (and, while reconnecting, for a connection). Default {@link DEFAULT_RPC_TIMEOUT_MS}. */
  timeoutMs?: number;
  headers?: FieldTable;
  /** Overrides the content type chosen from the payload. */
  contentType?: string;
  /**
   * Per-message TTL of the request, so that no server works on a request whose caller gave up. Default:
   * `timeoutMs`; `false` for none.
   */
  expiration?: number | false;
}

/** What {@link rpc} needs from the client: {@link AsyncRabbitMQ} provides it. */
export type RpcHost = ConsumerHost & Pick<AsyncRabbitMQ, 'state'>;

/** An RPC server's handler: gets the decoded request (JSON, text or bytes), returns the reply. */
export type RpcHandler<Req = unknown, Res = unknown> = (
  request: Req,
  msg: ConsumeMessage<Buffer>,
) => Res | Promise<Res>;

/** Options of {@link rpcServer}. */
export interface RpcServerOptions<Req = unknown>
  extends Pick<ConsumeOptions, 'prefetch' | 'concurrency' | 'exclusive' | 'priority' | 'consumerTag' | 'arguments'> {
  /** A handler that has not answered after this many ms is answered with an error reply. Default: none. */
  handlerTimeoutMs?: number;
  /** Validates a JSON request (zod-compatible); a request that fails it gets an error reply. */
  schema?: Schema<Req>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** The channel the request was published on, once it was. */
  channel: Channel | undefined;
  exchange: string;
  routingKey: string;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** The caller side of RPC for one client: a reply channel per connection and the pending calls. @internal */
export class RpcClient {
  /** What the client calls on (re)connect, connection loss and disconnect. */
  readonly participant: SessionParticipant;
  private conn: Connection | undefined;
  private channel: Channel | undefined;
  private opening: Promise<Channel> | undefined;
  private readonly pending = new Map<string, Pending>();
  private nextConnection = deferred<Connection>();
  private used = false;

  constructor(private readonly host: RpcHost) {
    this.participant = {
      attach: (conn) => this.attach(conn),
      detach: (err) => this.detach(err),
      stop: (timeoutMs) => this.stop(timeoutMs),
    };
  }

  /** Calls waiting for their reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** One call: see {@link rpc}. */
  call(routingKey: string, payload: RpcPayload, options: RpcOptions = {}): Promise<unknown> {
    let exchange: string;
    let timeoutMs: number;
    let body: Buffer;
    let contentType: string | undefined;
    let expiration: string | undefined;
    try {
      if (typeof routingKey !== 'string') throw new ConsumerOptionsError('rpc: routingKey must be a string');
      exchange = options.exchange ?? '';
      if (typeof exchange !== 'string') throw new ConsumerOptionsError('rpc: options.exchange must be a string');
      timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
      if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 0x7fffffff) {
        throw new ConsumerOptionsError(
          `rpc: options.timeoutMs must be a positive number of ms, got ${String(timeoutMs)}`,
        );
      }
      ({ body, contentType } = encodePayload(payload));
      contentType = options.contentType ?? contentType;
      const ttl = options.expiration ?? timeoutMs;
      expiration = ttl === false ? undefined : String(Math.max(0, Math.ceil(ttl)));
    } catch (err) {
      return Promise.reject(err);
    }
    this.used = true;
    const id = randomUUID();
    return new Promise<unknown>((resolve, reject) => {
      const entry: Pending = {
        resolve,
        reject,
        channel: undefined,
        exchange,
        routingKey,
        timer: setTimeout(() => {
          if (this.pending.get(id) !== entry) return;
          this.pending.delete(id);
          reject(new RpcTimeoutError(exchange, routingKey, timeoutMs, id));
        }, timeoutMs),
      };
      this.pending.set(id, entry);
      this.send(id, entry, body, { contentType, expiration, headers: options.headers }).catch((err: unknown) =>
        this.settle(
          id,
          entry,
          err instanceof ConnectionError ? new RpcConnectionLostError(routingKey, err) : (err as Error),
        ),
      );
    });
  }

  private async send(
    id: string,
    entry: Pending,
    body: Buffer,
    p: { contentType: string | undefined; expiration: string | undefined; headers: FieldTable | undefined },
  ): Promise<void> {
    const ch = await this.replyChannel();
    if (this.pending.get(id) !== entry) return; // timed out while waiting for the channel
    entry.channel = ch;
    await ch.basicPublish({ exchange: entry.exchange, routingKey: entry.routingKey, mandatory: true }, body, {
      replyTo: DIRECT_REPLY_TO,
      correlationId: id,
      contentType: p.contentType,
      headers: p.headers,
      expiration: p.expiration,
      deliveryMode: 1,
      timestamp: new Date(),
    });
  }

  /** The reply channel of the current connection, opened (consuming the reply-to pseudo-queue) on demand. */
  private async replyChannel(): Promise<Channel> {
    for (;;) {
      if (this.channel?.isOpen) return this.channel;
      if (this.opening !== undefined) return this.opening;
      const conn = this.host.connection;
      if (conn?.isOpen) {
        this.conn = conn;
        return this.open(conn);
      }
      const state = this.host.state;
      if (state === 'idle' || state === 'disconnecting') {
        throw new ClientClosedError(`rpc: the client is not connected (state ${state}): call connect() first`);
      }
      // Connecting or reconnecting: wait for the next attach (the call's own timeout bounds the wait).
      await this.nextConnection.promise;
    }
  }

  private open(conn: Connection): Promise<Channel> {
    const opening = (async () => {
      const ch = await conn.createChannel();
      ch.on('return', (r) => this.onReturn(r));
      ch.on('close', (err) => this.onChannelClose(ch, err));
      try {
        await ch.basicConsume({ queue: DIRECT_REPLY_TO, noAck: true }, (d) => this.onReply(d));
      } catch (err) {
        await ch.close().catch(() => {});
        throw err;
      }
      if (this.conn === conn) this.channel = ch;
      return ch;
    })();
    this.opening = opening;
    const clear = (): void => {
      if (this.opening === opening) this.opening = undefined;
    };
    opening.then(clear, clear);
    return opening;
  }

  private onReply(d: Delivery): void {
    const id = d.properties.correlationId;
    if (id === undefined) return;
    const entry = this.pending.get(id);
    if (entry === undefined) return; // a late reply (timed out) or not ours: dropped
    const remote = d.properties.headers?.[ERROR_HEADER];
    if (remote !== undefined) {
      const code = d.properties.headers?.[ERROR_CODE_HEADER];
      this.settle(id, entry, new RpcRemoteError(String(remote), typeof code === 'string' ? code : undefined));
      return;
    }
    let value: unknown;
    try {
      value = decodeBody(d.body, d.properties.contentType);
    } catch (err) {
      this.settle(
        id,
        entry,
        new WarrenError(`rpc ${JSON.stringify(entry.routingKey)}: the reply is not valid JSON: ${errorText(err)}`, {
          code: 'ERR_RPC_BAD_REPLY',
          cause: err,
        }),
      );
      return;
    }
    this.settle(id, entry, undefined, value);
  }

  private onReturn(r: ReturnedMessage): void {
    const id = r.properties.correlationId;
    if (id === undefined) return;
    const entry = this.pending.get(id);
    if (entry === undefined) return;
    this.settle(id, entry, new RpcNoServerError(r.exchange, r.routingKey, r.replyCode, r.replyText));
  }

  private onChannelClose(ch: Channel, err: ChannelError | ConnectionError | undefined): void {
    if (this.channel === ch) this.channel = undefined;
    for (const [id, entry] of this.pending) {
      if (entry.channel !== ch) continue;
      // A channel error (e.g. 404: the request's exchange does not exist) is the reason itself.
      const reason =
        err instanceof ChannelError
          ? err
          : new RpcConnectionLostError(entry.routingKey, err ?? new ConnectionError('the rpc channel closed'));
      this.settle(id, entry, reason);
    }
  }

  private settle(id: string, entry: Pending, err: Error | undefined, value?: unknown): void {
    if (this.pending.get(id) !== entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (err !== undefined) entry.reject(err);
    else entry.resolve(value);
  }

  private async attach(conn: Connection): Promise<void> {
    this.conn = conn;
    const waiting = this.nextConnection;
    this.nextConnection = deferred<Connection>();
    waiting.resolve(conn);
    if (this.used && !this.channel?.isOpen && this.opening === undefined) {
      // Ready before the next call; a failure here is retried by that call.
      await this.open(conn).catch(() => {});
    }
  }

  private detach(err: Error): void {
    const ch = this.channel;
    this.channel = undefined;
    this.conn = undefined;
    for (const [id, entry] of this.pending) {
      if (entry.channel !== undefined && (entry.channel === ch || !entry.channel.isOpen)) {
        this.settle(id, entry, new RpcConnectionLostError(entry.routingKey, err));
      }
    }
  }

  private async stop(timeoutMs: number): Promise<void> {
    if (this.pending.size > 0) {
      const deadline = Date.now() + timeoutMs;
      while (this.pending.size > 0 && Date.now() < deadline) await sleep(Math.min(20, deadline - Date.now()));
    }
    const closed = new ClientClosedError('rpc: disconnect() was called before the reply arrived');
    for (const [id, entry] of this.pending) this.settle(id, entry, closed);
    const waiting = this.nextConnection;
    this.nextConnection = deferred<Connection>();
    waiting.reject(new ClientClosedError('rpc: disconnect() was called'));
    const ch = this.channel;
    this.channel = undefined;
    if (ch !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const bound = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1000);
      });
      // Bounded: a connection that went silent must not hold up disconnect().
      await Promise.race([ch.close().catch(() => {}), bound]);
      clearTimeout(timer);
    }
  }
}

const clients = new WeakMap<object, RpcClient>();

/** The RPC caller of a client, created and registered on first use. */
function clientOf(mq: RpcHost): RpcClient {
  let client = clients.get(mq);
  if (client === undefined) {
    client = new RpcClient(mq);
    clients.set(mq, client);
    mq.addParticipant(client.participant).catch((err: unknown) =>
      mq.reportError(err, 'rpc: opening the reply channel'),
    );
  }
  return client;
}

/**
 * Calls a remote procedure: publishes `payload` to `routingKey` (on `options.exchange`, default the default
 * exchange) with a reply-to and a correlation id, and resolves with the reply, decoded: JSON for
 * `application/json`, a string for `text/*`, otherwise the bytes.
 *
 * @throws RpcTimeoutError (`ERR_RPC_TIMEOUT`) when no reply arrives within `timeoutMs`.
 * @throws RpcRemoteError (`ERR_RPC_REMOTE`) when the server's handler failed; carries its message.
 * @throws RpcNoServerError (`ERR_RPC_NO_SERVER`) when no queue is bound for the request.
 * @throws RpcConnectionLostError (`ERR_RPC_CONNECTION_LOST`, recoverable) when the connection was lost first.
 * @throws ClientClosedError when the client is not connected (before `connect()`, after `disconnect()`).
 *
 * @example
 * ```ts
 * const price = await rpc<{ amount: number }>(mq, 'pricing.quote', { sku: 'A-1' }, { timeoutMs: 2000 });
 * ```
 */
export function rpc<R = unknown>(
  mq: RpcHost,
  routingKey: string,
  payload: RpcPayload,
  options: RpcOptions = {},
): Promise<R> {
  return clientOf(mq).call(routingKey, payload, options) as Promise<R>;
}

/** How many {@link rpc} calls of this client are waiting for their reply (0 when none was ever made). */
export function rpcPending(mq: RpcHost): number {
  return clients.get(mq)?.pendingCount ?? 0;
}

/**
 * Answers RPC requests from `queue`: decodes each request (JSON for `application/json`, a string for
 * `text/*`, otherwise the bytes; then `schema`), calls `handler`, and publishes its result to the
 * request's `replyTo` with its `correlationId` (JSON when the request was JSON or the result is not a
 * string; bytes as they are). A handler error (or timeout, or a request failing the schema) is answered
 * with an `x-warren-error` header, which makes the caller's promise reject with {@link RpcRemoteError}.
 * Every request is acked once answered, failed or not: nothing is retried.
 *
 * @returns the {@link Consumer}; stop it with `stop()` (the client's `disconnect()` stops it too).
 * @example
 * ```ts
 * const server = await rpcServer(mq, 'users.get', async (req: { id: number }) => db.user(req.id), { prefetch: 20 });
 * ```
 */
export function rpcServer<Req = unknown, Res = unknown>(
  mq: RpcHost,
  queue: string,
  handler: RpcHandler<Req, Res>,
  options: RpcServerOptions<Req> = {},
): Promise<Consumer<Buffer>> {
  if (typeof handler !== 'function')
    return Promise.reject(new ConsumerOptionsError('rpcServer: handler must be a function'));
  const { handlerTimeoutMs, schema, ...consumeOptions } = options;
  const t = handlerTimeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 0x7fffffff)) {
    return Promise.reject(
      new ConsumerOptionsError(`rpcServer: options.handlerTimeoutMs must be a positive number of ms, got ${String(t)}`),
    );
  }
  const logger = mq.settings.logger;
  const serve = async (msg: ConsumeMessage<Buffer>): Promise<void> => {
    const p = msg.properties;
    const json = isJson(p.contentType);
    let result: unknown;
    let failure: unknown;
    let failed = false;
    try {
      const request = decodeRequest<Req>(msg.body, p.contentType, schema);
      result = await withTimeout(async () => handler(request, msg), t);
    } catch (err) {
      failed = true;
      failure = err;
    }
    if (failed) {
      logger.warn(
        { err: failure, queue },
        `warren: rpc server ${JSON.stringify(queue)}: the handler failed: ${errorText(failure)}`,
      );
    }
    if (p.replyTo === undefined || p.replyTo === '') {
      logger.warn({ queue }, `warren: rpc server ${JSON.stringify(queue)}: request without replyTo: nothing to answer`);
      return;
    }
    let reply: { body: Buffer; contentType: string | undefined; headers: FieldTable | undefined };
    try {
      reply = failed ? errorReply(failure) : { ...encodeReply(result, json), headers: undefined };
    } catch (err) {
      reply = errorReply(err);
    }
    try {
      await mq.publishMessage(p.replyTo, reply.body, {
        exchange: '',
        mandatory: false,
        persistent: false,
        correlationId: p.correlationId,
        contentType: reply.contentType,
        headers: reply.headers,
      });
    } catch (err) {
      // The caller is gone or the connection dropped: it times out or sees the lost connection; nothing to retry.
      mq.reportError(err, `rpc server ${JSON.stringify(queue)}: publishing a reply`);
    }
  };
  return consume<Buffer>(mq, queue, serve, { ...consumeOptions, deadLetter: false, json: false, manual: false });
}

function errorReply(err: unknown): { body: Buffer; contentType: string; headers: FieldTable } {
  const message = headerErrorText(err);
  const headers: FieldTable = { [ERROR_HEADER]: message };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') headers[ERROR_CODE_HEADER] = code;
  return { body: Buffer.from(JSON.stringify({ error: message })), contentType: 'application/json', headers };
}

function isJson(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || type.endsWith('+json');
}

function isText(contentType: string | undefined): boolean {
  return contentType?.trim().toLowerCase().startsWith('text/') ?? false;
}

/** A payload as bytes and the content type that says how to read them. */
export function encodePayload(payload: RpcPayload): { body: Buffer; contentType: string | undefined } {
  if (Buffer.isBuffer(payload)) return { body: payload, contentType: undefined };
  if (payload instanceof Uint8Array) {
    return { body: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), contentType: undefined };
  }
  if (typeof payload === 'string') return { body: Buffer.from(payload, 'utf8'), contentType: 'text/plain' };
  if (
    payload === undefined ||
    typeof payload === 'function' ||
    typeof payload === 'symbol' ||
    typeof payload === 'bigint'
  ) {
    throw new ConsumerOptionsError(`rpc: payload must be bytes, a string or a JSON value, got ${typeof payload}`);
  }
  return { body: Buffer.from(JSON.stringify(payload), 'utf8'), contentType: 'application/json' };
}

function encodeReply(result: unknown, requestWasJson: boolean): { body: Buffer; contentType: string | undefined } {
  if (Buffer.isBuffer(result) || result instanceof Uint8Array) return encodePayload(result);
  if (typeof result === 'string' && !requestWasJson) return encodePayload(result);
  const text = JSON.stringify(result === undefined ? null : result);
  return { body: Buffer.from(text, 'utf8'), contentType: 'application/json' };
}

/** A message body decoded by its content type: JSON, text, or the bytes. */
export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  if (isJson(contentType)) return JSON.parse(body.toString('utf8'));
  if (isText(contentType)) return body.toString('utf8');
  return body;
}

function decodeRequest<Req>(body: Buffer, contentType: string | undefined, schema: Schema<Req> | undefined): Req {
  if (schema === undefined) {
    try {
      return decodeBody(body, contentType) as Req;
    } catch (err) {
      throw new WarrenError(`invalid JSON request: ${errorText(err)}`, { code: 'ERR_MESSAGE_DECODE', cause: err });
    }
  }
  const decoded = decodePayload(body, true, schema);
  if (!decoded.ok) throw new WarrenError(decoded.error, { code: 'ERR_MESSAGE_DECODE', cause: decoded.cause });
  return decoded.value;
}

async function withTimeout<T>(fn: () => Promise<T>, timeoutMs: number | undefined): Promise<T> {
  if (timeoutMs === undefined) return fn();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HandlerTimeoutError(timeoutMs)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
