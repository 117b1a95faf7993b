/**
 * Request/reply over RabbitMQ's direct reply-to: {@link rpc} calls, {@link rpcServer} answers.
 *
 * The caller side keeps one channel per client and generation that consumes the `amq.rabbitmq.reply-to`
 * pseudo-queue (no-ack) and publishes every request itself — RabbitMQ only routes replies to the channel
 * that published the request. Calls are matched to replies by a random correlation id; a call that gets no
 * reply within `timeoutMs` rejects with {@link RpcTimeoutError} and its entry is removed, so a late reply is
 * dropped. Requests are `mandatory`: when no queue is bound for them the broker returns them and the call
 * rejects at once with {@link RpcNoServerError}. A request to a missing exchange makes the broker close the
 * reply channel (404): that call rejects with the 404, and the other calls of the channel, which lost their
 * reply path through no fault of theirs, are sent again on a new one. When the connection is lost, calls
 * waiting for a reply reject with the recoverable {@link RpcConnectionLostError}.
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
import { inspect } from 'node:util';
import type { Channel, Delivery, ReturnedMessage } from '../../connection/channel.js';
import type { Connection } from '../../connection/connection.js';
import { ChannelError, ConnectionError, WarrenError } from '../../protocol/errors.js';
import type { FieldTable } from '../../protocol/field-table.js';
import type { ConsumerHost } from '../consume/consumer.js';
import {
  ConsumerOptionsError,
  errorText,
  RpcConnectionLostError,
  RpcNoServerError,
  RpcRemoteError,
  RpcTimeoutError,
} from '../consume/errors.js';
import { ERROR_CODE_HEADER, ERROR_HEADER } from '../consume/message.js';
import { isSchema, validateOrThrow } from '../consume/schema.js';
import { AbortedError, ClientClosedError } from '../errors.js';
import { left, within } from '../session/deadline.js';
import type { Participant, Session } from '../session/types.js';
import { decodeBody, encodePayload } from './codec.js';
import { DEFAULT_RPC_TIMEOUT_MS, DIRECT_REPLY_TO, type RpcOptions, type RpcPayload } from './types.js';

export { decodeBody, encodePayload } from './codec.js';
export { rpcServer } from './server.js';
export * from './types.js';

/** What {@link rpc} needs from the client: its session ({@link AsyncRabbitMQ} carries one). */
export type RpcHost = ConsumerHost;

/** How often one call is sent again after its reply channel was closed by another call's fault. */
const MAX_RESENDS = 3;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** The caller's signal and its listener, when one was given. */
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** The channel the request was published on, once it was. */
  channel: Channel | undefined;
  exchange: string;
  routingKey: string;
  body: Buffer;
  contentType: string | undefined;
  expiration: string | undefined;
  headers: FieldTable | undefined;
  resends: number;
  /** Incremented by every dispatch: a failed send acts only if no later dispatch (or settle) took over. */
  dispatches: number;
}

/** The caller side of RPC for one client: a reply channel per generation and the pending calls. @internal */
export class RpcClient {
  /** What the session calls with every generation, on its loss and on disconnect. */
  readonly participant: Participant;
  private gen = 0;
  private conn: Connection | undefined;
  private channel: Channel | undefined;
  private opening: Promise<Channel> | undefined;
  private readonly pending = new Map<string, Pending>();
  private used = false;

  constructor(private readonly session: Session) {
    this.participant = {
      attach: (conn, gen) => this.attach(conn, gen),
      detach: (gen, err) => this.detach(gen, err),
      stop: (deadline) => this.stop(deadline),
    };
  }

  /** Calls waiting for their reply. */
  get pendingCount(): number {
    return this.pending.size;
  }

  [inspect.custom](): string {
    return `RpcClient { pending: ${this.pending.size}, generation: ${this.gen || 'none'} }`;
  }

  /** One call: see {@link rpc}. */
  call(routingKey: string, payload: RpcPayload, options: RpcOptions<unknown, unknown> = {}): Promise<unknown> {
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
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortedError(`rpc ${JSON.stringify(routingKey)}`, signal.reason));
    this.used = true;
    const id = randomUUID();
    return new Promise<unknown>((resolve, reject) => {
      const entry: Pending = {
        resolve,
        reject,
        channel: undefined,
        exchange,
        routingKey,
        body,
        contentType,
        expiration,
        headers: options.headers,
        resends: 0,
        dispatches: 0,
        signal,
        onAbort: undefined,
        timer: setTimeout(() => {
          this.settle(id, entry, new RpcTimeoutError(exchange, routingKey, timeoutMs, id));
        }, timeoutMs),
      };
      if (signal !== undefined) {
        entry.onAbort = () =>
          this.settle(id, entry, new AbortedError(`rpc ${JSON.stringify(routingKey)}`, signal.reason));
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.pending.set(id, entry);
      this.dispatch(id, entry);
    });
  }

  private dispatch(id: string, entry: Pending): void {
    const attempt = ++entry.dispatches;
    this.send(id, entry).catch((err: unknown) => {
      // The reply channel's close may have re-dispatched or settled this call already.
      if (this.pending.get(id) !== entry || entry.dispatches !== attempt) return;
      if (err instanceof ReplyPathLost) {
        if (entry.resends < MAX_RESENDS) {
          entry.resends++;
          entry.channel = undefined;
          this.dispatch(id, entry);
        } else {
          this.settle(id, entry, new RpcConnectionLostError(entry.routingKey, err.cause));
        }
        return;
      }
      this.settle(id, entry, err as Error);
    });
  }

  /**
   * Publishes the request on the reply channel. A channel that closed under it (while opening, or before
   * the publish was written) is nobody's fault: that rejects with {@link ReplyPathLost}, and the call is
   * sent again on the next one. What the publish itself refuses (a header it cannot encode) is final.
   */
  private async send(id: string, entry: Pending): Promise<void> {
    let ch: Channel;
    try {
      ch = await this.replyChannel();
    } catch (err) {
      if (err instanceof ClientClosedError) throw err;
      throw new ReplyPathLost(err);
    }
    if (this.pending.get(id) !== entry) return; // timed out while waiting for the channel
    if (!ch.isOpen) throw new ReplyPathLost(new ConnectionError('the rpc reply channel closed'));
    entry.channel = ch;
    try {
      await ch.basicPublish({ exchange: entry.exchange, routingKey: entry.routingKey, mandatory: true }, entry.body, {
        replyTo: DIRECT_REPLY_TO,
        correlationId: id,
        contentType: entry.contentType,
        headers: entry.headers,
        expiration: entry.expiration,
        deliveryMode: 1,
        timestamp: new Date(),
      });
    } catch (err) {
      const closedUnder =
        err instanceof ConnectionError || (err instanceof ChannelError && err.replyCode === undefined);
      throw closedUnder ? new ReplyPathLost(err) : err;
    }
  }

  /** The reply channel of the current generation, opened (consuming the reply-to pseudo-queue) on demand. */
  private async replyChannel(): Promise<Channel> {
    for (;;) {
      if (this.channel?.isOpen) return this.channel;
      if (this.opening !== undefined) return this.opening;
      const live = this.session.current;
      if (live?.conn.isOpen) {
        this.gen = live.gen;
        this.conn = live.conn;
        return this.open(live.conn, live.gen);
      }
      // Connecting or reconnecting: wait for the next generation (the call's own timeout bounds the wait);
      // idle or closed: this rejects with ClientClosedError.
      await this.session.ready().catch((err: unknown) => {
        throw new ClientClosedError(`rpc: the client is not connected: call connect() first`, err);
      });
    }
  }

  private open(conn: Connection, gen: number): Promise<Channel> {
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
      if (this.gen === gen) this.channel = ch;
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

  /**
   * The reply channel closed. On a channel error the broker names its cause: a 404 names the missing
   * exchange, so only the calls to it fail with it; the others lost their reply path through no fault of
   * their own and are sent again. An error that names no culprit is given to every call as recoverable.
   */
  private onChannelClose(ch: Channel, err: ChannelError | ConnectionError | undefined): void {
    if (this.channel === ch) this.channel = undefined;
    const text = err instanceof ChannelError ? (err.replyText ?? '') : '';
    const missing =
      err instanceof ChannelError && err.replyCode === 404 ? /exchange '([^']*)'/.exec(text)?.[1] : undefined;
    for (const [id, entry] of this.pending) {
      if (entry.channel !== ch) continue;
      entry.channel = undefined;
      if (err instanceof ChannelError && missing !== undefined && entry.exchange === missing) {
        this.settle(id, entry, err);
      } else if (err instanceof ChannelError && missing !== undefined && entry.resends < MAX_RESENDS) {
        entry.resends++;
        this.dispatch(id, entry);
      } else {
        const cause = err ?? new ConnectionError('the rpc channel closed');
        this.settle(id, entry, new RpcConnectionLostError(entry.routingKey, cause));
      }
    }
  }

  private settle(id: string, entry: Pending, err: Error | undefined, value?: unknown): void {
    if (this.pending.get(id) !== entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    if (entry.onAbort !== undefined) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (err !== undefined) entry.reject(err);
    else entry.resolve(value);
  }

  private async attach(conn: Connection, gen: number): Promise<void> {
    this.gen = gen;
    this.conn = conn;
    if (this.used && !this.channel?.isOpen && this.opening === undefined) {
      // Ready before the next call; a failure here is retried by that call.
      await this.open(conn, gen).catch(() => {});
    }
  }

  private detach(gen: number, err: Error): void {
    if (gen !== this.gen) return;
    const ch = this.channel;
    this.gen = 0;
    this.channel = undefined;
    this.conn = undefined;
    // disconnect() ending the session is not a lost connection: those calls end as the client closing.
    const closing = err instanceof ClientClosedError;
    for (const [id, entry] of this.pending) {
      if (entry.channel !== undefined && (entry.channel === ch || !entry.channel.isOpen)) {
        this.settle(
          id,
          entry,
          closing
            ? new ClientClosedError('rpc: disconnect() was called before the reply arrived', err)
            : new RpcConnectionLostError(entry.routingKey, err),
        );
      }
    }
  }

  private async stop(deadline: number): Promise<void> {
    while (this.pending.size > 0 && Date.now() < deadline) await pause(20, deadline);
    const closed = new ClientClosedError('rpc: disconnect() was called before the reply arrived');
    for (const [id, entry] of this.pending) this.settle(id, entry, closed);
    const ch = this.channel;
    this.channel = undefined;
    this.gen = 0;
    // Bounded: a connection that went silent must not hold up disconnect().
    if (ch !== undefined) await within(ch.close(), Math.max(left(deadline), 0));
  }
}

function pause(ms: number, deadline: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(ms, left(deadline))));
}

const clients = new WeakMap<Session, RpcClient>();

/** The RPC caller of a client, created and joined to its session on first use. */
function clientOf(mq: RpcHost): RpcClient {
  const session = mq.session;
  let client = clients.get(session);
  if (client === undefined) {
    client = new RpcClient(session);
    clients.set(session, client);
    session.join(client.participant).catch((err: unknown) => session.report(err, 'rpc: opening the reply channel'));
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
 * @throws ChannelError (404) when `options.exchange` does not exist; other calls are not affected.
 * @throws RpcConnectionLostError (`ERR_RPC_CONNECTION_LOST`, recoverable) when the connection was lost first.
 * @throws ClientClosedError when the client is not connected (before `connect()`, after `disconnect()`).
 * @throws AbortedError (`ERR_ABORTED`) when `options.signal` aborted first.
 * @throws SchemaValidationError (`ERR_SCHEMA_VALIDATION`) when the request fails `requestSchema` (nothing is
 *   sent) or the reply fails `schema`; `issues` names the paths.
 *
 * @example
 * ```ts
 * const price = await rpc<{ amount: number }>(mq, 'pricing.quote', { sku: 'A-1' }, { timeoutMs: 2000 });
 * const quote = await rpc(mq, 'pricing.quote', { sku: 'A-1' }, { schema: QuoteSchema }); // typed by the schema
 * ```
 */
export function rpc<Res = unknown, Req extends RpcPayload = RpcPayload>(
  mq: RpcHost,
  routingKey: string,
  payload: Req,
  options: RpcOptions<Res, Req> = {},
): Promise<Res> {
  if (options.schema === undefined && options.requestSchema === undefined) {
    return clientOf(mq).call(routingKey, payload, options) as Promise<Res>;
  }
  return checkedCall(clientOf(mq), routingKey, payload, options);
}

/** A call with a request and/or reply schema: the request checked before it is sent, the reply after. */
async function checkedCall<Res, Req>(
  client: RpcClient,
  routingKey: string,
  payload: Req,
  options: RpcOptions<Res, Req>,
): Promise<Res> {
  const { schema, requestSchema, ...rest } = options;
  for (const [key, s] of [
    ['schema', schema],
    ['requestSchema', requestSchema],
  ] as const) {
    if (s !== undefined && !isSchema(s)) {
      throw new ConsumerOptionsError(`rpc: options.${key} must be a Standard Schema or have safeParse/parse`);
    }
  }
  const what = `rpc ${JSON.stringify(routingKey)}`;
  const request =
    requestSchema === undefined ? payload : await validateOrThrow(requestSchema, payload, `${what}: the request`);
  const reply = await client.call(routingKey, request as RpcPayload, rest);
  return schema === undefined ? (reply as Res) : validateOrThrow(schema, reply, `${what}: the reply`);
}

/** How many {@link rpc} calls of this client are waiting for their reply (0 when none was ever made). */
export function rpcPending(mq: RpcHost): number {
  return clients.get(mq.session)?.pendingCount ?? 0;
}

/** The reply channel closed under a call before its request was written: send it again. */
class ReplyPathLost extends Error {
  constructor(override readonly cause: unknown) {
    super('the rpc reply channel closed before the request was written');
  }
}
