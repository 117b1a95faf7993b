/**
 * The message a consumer's handler receives, payload decoding (JSON, zod-compatible schemas without
 * depending on zod) and the `x-warren-*` headers that carry a message's retry state through the broker.
 * @module
 */
import type { Delivery } from '../../connection/channel.js';
import type { FieldTable, FieldValue } from '../../protocol/field-table.js';
import type { BasicProperties } from '../../protocol/spec.js';
import { errorText } from './errors.js';
import type { Outcome } from './handler-outcome.js';
import { formatIssues, type Schema, type Validated, validateValue } from './schema.js';

export type { Schema } from './schema.js';

/** Header with the 1-based attempt of a message that came back through a retry queue. */
export const ATTEMPT_HEADER = 'x-warren-attempt';
/** Header with the error message of the last failure (retry and dead-letter copies). */
export const ERROR_HEADER = 'x-warren-error';
/** Header of a dead-lettered message: how many attempts were made. */
export const ATTEMPTS_HEADER = 'x-warren-attempts';
/** Header with the exchange the message was first published to (retry and dead-letter copies). */
export const ORIGINAL_EXCHANGE_HEADER = 'x-warren-original-exchange';
/** Header with the routing key the message was first published with (retry and dead-letter copies). */
export const ORIGINAL_ROUTING_KEY_HEADER = 'x-warren-original-routing-key';
/** Header of a dead-lettered message: the queue it was consumed from. */
export const QUEUE_HEADER = 'x-warren-queue';
/** Header of an RPC error reply: the error `code` of the server handler's error, when it had one. */
export const ERROR_CODE_HEADER = 'x-warren-error-code';

/** Longest error text put in a header; longer texts are cut. */
const MAX_ERROR_TEXT = 1000;

/** The delivery details of a message. */
export interface MessageFields {
  /** The broker delivered it before (to this or another consumer) without it being acknowledged. */
  redelivered: boolean;
  /** Its tag on the channel it arrived on. */
  deliveryTag: number;
  /**
   * The exchange it was first published to. After a hop through a retry queue this is restored from the
   * `x-warren-original-exchange` header (the broker itself reports `''`).
   */
  exchange: string;
  /** The routing key it was first published with; restored after a retry hop like `exchange`. */
  routingKey: string;
  /** The tag of the consumer it was delivered to (the broker's name for the subscription). */
  consumerTag: string;
}

/**
 * A message as a consumer's handler sees it.
 *
 * @example
 * ```ts
 * await consume(mq, 'orders.created', async (msg) => {
 *   console.log(msg.value, msg.attempt, msg.headers['x-tenant'], msg.fields.routingKey);
 * }, { json: true });
 * ```
 */
export interface ConsumeMessage<T = unknown> {
  /** The queue it was consumed from. */
  readonly queue: string;
  /** The raw payload. */
  readonly body: Buffer;
  /** The payload decoded with `json` / `schema`; without either, the raw `body`. */
  readonly value: T;
  /** The message's properties as delivered (content type, message id, correlation id, headers...). */
  readonly properties: BasicProperties;
  /** `properties.headers`, or an empty object. */
  readonly headers: FieldTable;
  /** Where and how it was delivered: exchange, routing key, delivery tag, redelivered flag, consumer tag. */
  readonly fields: MessageFields;
  /**
   * 1-based attempt: 1 on first delivery, 2 after the first retry, and so on. Carried through retry queues
   * in the `x-warren-attempt` header, so it survives consumer restarts. Broker redeliveries (after a lost
   * connection) do not count as attempts.
   */
  readonly attempt: number;
  /** Manual mode only: acknowledges. Returns false when it was already settled or its channel is gone. */
  ack(): boolean;
  /**
   * Manual mode only: negatively acknowledges; `requeue` defaults to true (AMQP's default) — beware of
   * redelivery loops. Returns false when it was already settled or its channel is gone.
   */
  nack(options?: { requeue?: boolean }): boolean;
  /**
   * Manual mode only: rejects; `requeue` defaults to false (the message is dropped, or dead-lettered by the
   * queue's own `x-dead-letter-exchange`). Returns false when it was already settled or its channel is gone.
   */
  reject(options?: { requeue?: boolean }): boolean;
  /**
   * Publishes the message again to the back of its queue at once, as the next attempt (counted against
   * the attempts); dead-lettered once they are exhausted. Applied when the handler returns. Any mode.
   */
  requeue(reason?: string): Outcome;
  /**
   * Retries the message after `delayMs` (default: the retry policy's delay for this attempt, else 5000)
   * through the retry queue `<queue>.retry.<delayMs>`, as the next attempt; dead-lettered once attempts
   * are exhausted. Applied when the handler returns. Any mode.
   */
  retryLater(delayMs?: number, reason?: string): Outcome;
  /** Dead-letters the message when the handler returns, `reason` in `x-warren-error`. Any mode. */
  deadLetter(reason: string): Outcome;
  /** Acks the message without processing it when the handler returns; logged with `reason`. Any mode. */
  drop(reason: string): Outcome;
}

/** The attempt a delivery is on: its `x-warren-attempt` header, or 1. */
export function attemptOf(headers: FieldTable | undefined): number {
  const raw = headers?.[ATTEMPT_HEADER];
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'bigint') n = Number(raw);
  else if (typeof raw === 'string') n = Number(raw);
  else return 1;
  return Number.isSafeInteger(n) && n >= 1 ? n : 1;
}

/** The original exchange and routing key of a delivery, restored from the retry headers when present. */
export function originOf(delivery: Delivery): { exchange: string; routingKey: string } {
  const h = delivery.properties.headers;
  const exchange = h?.[ORIGINAL_EXCHANGE_HEADER];
  const routingKey = h?.[ORIGINAL_ROUTING_KEY_HEADER];
  return {
    exchange: typeof exchange === 'string' ? exchange : delivery.exchange,
    routingKey: typeof routingKey === 'string' ? routingKey : delivery.routingKey,
  };
}

/** The outcome of decoding a payload. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string; cause?: unknown };

/**
 * Decodes a payload: JSON when `json` (or a `schema`) is set, then the schema (Standard Schema v1 or
 * parse/safeParse). Without either, the value is the body itself. Synchronous unless the schema is async.
 */
export function decodePayload<T>(
  body: Buffer,
  json: boolean,
  schema: Schema<T> | undefined,
): Decoded<T> | Promise<Decoded<T>> {
  if (!json && schema === undefined) return { ok: true, value: body as unknown as T };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `invalid JSON payload: ${errorText(err)}`, cause: err };
  }
  if (schema === undefined) return { ok: true, value: parsed as T };
  const v = validateValue(schema, parsed);
  return v instanceof Promise ? v.then(fromValidated) : fromValidated(v);
}

function fromValidated<T>(v: Validated<T>): Decoded<T> {
  if (v.ok) return v;
  return { ok: false, error: `schema validation failed: ${formatIssues(v.issues)}`, cause: v.cause ?? v.issues };
}

/** Headers added by the broker's own dead-lettering, dropped from republished copies (they only grow). */
function isDeathHeader(key: string): boolean {
  return key === 'x-death' || key.startsWith('x-first-death-') || key.startsWith('x-last-death-');
}

/** Cuts an error text to what fits comfortably in a header. */
export function headerErrorText(err: unknown): string {
  const text = errorText(err);
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}

/** The headers of the copy published to a retry queue: the next attempt and where the message came from. */
export function retryHeaders(delivery: Delivery, nextAttempt: number, error: unknown): FieldTable {
  const headers = copyHeaders(delivery.properties.headers);
  const origin = originOf(delivery);
  headers[ATTEMPT_HEADER] = nextAttempt;
  headers[ORIGINAL_EXCHANGE_HEADER] = origin.exchange;
  headers[ORIGINAL_ROUTING_KEY_HEADER] = origin.routingKey;
  headers[ERROR_HEADER] = headerErrorText(error);
  return headers;
}

/** The headers of the copy published to the dead-letter target. */
export function deadLetterHeaders(delivery: Delivery, queue: string, attempts: number, error: unknown): FieldTable {
  const headers = copyHeaders(delivery.properties.headers);
  const origin = originOf(delivery);
  // Re-injecting a dead letter into its queue should start its attempts afresh.
  delete headers[ATTEMPT_HEADER];
  headers[ERROR_HEADER] = headerErrorText(error);
  headers[ATTEMPTS_HEADER] = attempts;
  headers[ORIGINAL_EXCHANGE_HEADER] = origin.exchange;
  headers[ORIGINAL_ROUTING_KEY_HEADER] = origin.routingKey;
  headers[QUEUE_HEADER] = queue;
  return headers;
}

function copyHeaders(headers: FieldTable | undefined): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  if (headers === undefined) return out;
  for (const [k, v] of Object.entries(headers)) if (!isDeathHeader(k)) out[k] = v;
  return out;
}
