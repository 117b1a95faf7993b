import { type FieldTable, TypedValue } from '../protocol/field-table.js';
import type { BasicProperties } from '../protocol/spec.js';
import type { InputSchema } from './consume/schema.js';
import { InvalidMessageError } from './errors.js';
import { newMessageId } from './publish/message-id.js';
import type { OutgoingMessage } from './publisher.js';

/**
 * An object to send as JSON. Any object type fits, an `interface` included (no index signature needed);
 * functions do not (the `bind`/`call` markers keep them out, so an object with a property of one of those
 * names must be sent as a string).
 */
export type JsonObject = object & { readonly bind?: never; readonly call?: never };

/**
 * What `publishMessage` and `rpc` accept as the message: bytes as they are, a string as text/plain, and
 * anything else — an object (typed by an `interface` or a `type`), an array, a number, a boolean or
 * `null` — as JSON (application/json). `undefined`, functions, symbols and bigints are refused.
 */
export type MessageBody =
  | string
  | Buffer
  | Uint8Array
  | number
  | boolean
  | null
  | readonly unknown[]
  | JsonObject
  // Lets an object literal through excess-property checks where no type parameter is inferred.
  | { readonly [key: string]: unknown };

/** Options of `publishMessage`. */
export interface PublishMessageOptions {
  /** Exchange to publish to. Default "" (the default exchange: the routing key names the queue). */
  exchange?: string;
  /** Survive a broker restart (delivery mode 2). Default true. */
  persistent?: boolean;
  /** Reject with UnroutableError when no queue is bound for the message. Default true. */
  mandatory?: boolean;
  /**
   * Application headers (a field table: strings, numbers, booleans, nested tables, arrays, Buffers,
   * {@link typed} values). Non-finite numbers are refused with InvalidMessageError. Headers exchanges
   * route by them. Default none.
   */
  headers?: FieldTable;
  /**
   * Default: a UUIDv7 (RFC 9562: time-ordered, unique across processes), kept across republishes so
   * consumers can drop duplicates.
   */
  messageId?: string;
  /** Default: application/json for objects, text/plain for strings, unset for bytes. */
  contentType?: string;
  /** {@inheritDoc BasicProperties.contentEncoding} */
  contentEncoding?: string;
  /** Per-message TTL in milliseconds (a number or a string of digits). */
  expiration?: number | string;
  /** 0..255 (the queue's x-max-priority caps it). */
  priority?: number;
  /** {@inheritDoc BasicProperties.correlationId} */
  correlationId?: string;
  /** {@inheritDoc BasicProperties.replyTo} */
  replyTo?: string;
  /** {@inheritDoc BasicProperties.type} */
  type?: string;
  /** {@inheritDoc BasicProperties.appId} */
  appId?: string;
  /** {@inheritDoc BasicProperties.userId} */
  userId?: string;
  /** Default: now. */
  timestamp?: Date;
  /**
   * Deadline of this call, from now to the broker's confirm (waiting for room in a full buffer included).
   * Default: the client's `publishTimeoutMs` (30 000 ms). Past it the call rejects with
   * PublishTimeoutError (`ERR_PUBLISH_TIMEOUT`).
   */
  timeoutMs?: number;
  /**
   * Aborting it rejects the call with code `ERR_ABORTED` (the signal's reason as `cause`). A message not
   * written yet leaves the buffer and is never sent; one already written may still reach the queue.
   */
  signal?: AbortSignal;
}

/** Options of `AsyncRabbitMQ.publishMessage`: {@link PublishMessageOptions} plus a schema checked before sending. */
export interface PublishOptions<T = unknown> extends PublishMessageOptions {
  /**
   * Validates the message before anything is sent (a Standard Schema: zod, valibot, arktype...; or
   * safeParse/parse). Its output is what is sent (defaults and transforms applied). A failure rejects with
   * {@link SchemaValidationError} naming every failing path; nothing is sent.
   */
  schema?: InputSchema<T>;
}

/** Turns the arguments of `publishMessage` into a message, checking what the broker would refuse. */
export function buildMessage(routingKey: string, message: MessageBody, o: PublishMessageOptions = {}): OutgoingMessage {
  if (typeof routingKey !== 'string')
    throw new InvalidMessageError(`routingKey must be a string, got ${typeof routingKey}`);
  let body: Buffer;
  let contentType = o.contentType;
  if (typeof message === 'string') {
    body = Buffer.from(message, 'utf8');
    contentType ??= 'text/plain';
  } else if (Buffer.isBuffer(message)) {
    body = message;
  } else if (message instanceof Uint8Array) {
    body = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
  } else if (
    message === null ||
    typeof message === 'object' ||
    typeof message === 'boolean' ||
    (typeof message === 'number' && Number.isFinite(message))
  ) {
    body = Buffer.from(JSON.stringify(message), 'utf8');
    contentType ??= 'application/json';
  } else {
    throw new InvalidMessageError(
      `message must be bytes, a string or a JSON value (object, array, finite number, boolean, null), got ${typeof message === 'number' ? String(message) : typeof message}`,
    );
  }
  if (o.headers !== undefined) checkFinite(o.headers, 'options.headers');
  const properties: BasicProperties = {
    contentType,
    contentEncoding: o.contentEncoding,
    headers: o.headers,
    deliveryMode: o.persistent === false ? 1 : 2,
    priority: checkPriority(o.priority),
    correlationId: o.correlationId,
    replyTo: o.replyTo,
    expiration: checkExpiration(o.expiration),
    messageId: o.messageId ?? newMessageId(),
    timestamp: o.timestamp ?? new Date(),
    type: o.type,
    userId: o.userId,
    appId: o.appId,
  };
  return { exchange: o.exchange ?? '', routingKey, mandatory: o.mandatory ?? true, body, properties };
}

function checkPriority(p: number | undefined): number | undefined {
  if (p === undefined) return undefined;
  if (!Number.isInteger(p) || p < 0 || p > 255)
    throw new InvalidMessageError(`options.priority must be an integer 0..255, got ${p}`);
  return p;
}

function checkExpiration(e: number | string | undefined): string | undefined {
  if (e === undefined) return undefined;
  const s = typeof e === 'number' ? String(e) : e;
  // The broker closes the channel (406) on anything else, which would take other messages down with it.
  if (!/^\d{1,10}$/.test(s) || Number(s) > 2 ** 32 - 1) {
    throw new InvalidMessageError(
      `options.expiration must be a non-negative integer of milliseconds, got ${JSON.stringify(e)}`,
    );
  }
  return s;
}

/**
 * AMQP can carry NaN and ±Infinity, but RabbitMQ answers a header holding one by closing the whole
 * connection (541 INTERNAL_ERROR), taking every other message in flight down with it: refuse it here.
 */
function checkFinite(value: unknown, path: string, depth = 0): void {
  if (depth > 64) return; // the codec refuses deeper nesting with its own error
  const n = value instanceof TypedValue ? value.value : value;
  if (typeof n === 'number' && !Number.isFinite(n)) {
    throw new InvalidMessageError(`${path} is ${n}: RabbitMQ closes the connection on non-finite numbers in headers`);
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      checkFinite(v, `${path}[${i}]`, depth + 1);
    });
  } else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) checkFinite(v, `${path}[${JSON.stringify(k)}]`, depth + 1);
  }
}
