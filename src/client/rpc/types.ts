/**
 * The types and defaults of RPC over direct reply-to ({@link rpc}, {@link rpcServer}).
 * @module
 */
import type { FieldTable } from '../../protocol/field-table.js';
import type { ConsumeMessage } from '../consume/message.js';
import type { ConsumeOptions } from '../consume/options.js';
import type { InputSchema, Schema } from '../consume/schema.js';
import type { MessageBody } from '../message.js';

/** The pseudo-queue of RabbitMQ's direct reply-to. */
export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
/** Default `timeoutMs` of {@link rpc}. */
export const DEFAULT_RPC_TIMEOUT_MS = 30_000;

/**
 * What {@link rpc} sends: bytes as they are, a string as text/plain, anything else (an object typed by an
 * `interface` or a `type`, an array, a number, a boolean, `null`) as JSON. The same as `publishMessage`'s
 * {@link MessageBody}.
 */
export type RpcPayload = MessageBody;

/**
 * Options of {@link rpc}. `Res` is the reply's type, `Req` the request's.
 */
export interface RpcOptions<Res = unknown, Req = unknown> {
  /**
   * Validates the decoded reply (a Standard Schema: zod, valibot, arktype...; or safeParse/parse); the call
   * resolves with its output, or rejects with a {@link SchemaValidationError} (code `ERR_SCHEMA_VALIDATION`)
   * naming the failing paths.
   */
  schema?: Schema<Res>;
  /**
   * Validates the request before it is sent (its output is what is sent); a failure rejects with
   * a {@link SchemaValidationError} (code `ERR_SCHEMA_VALIDATION`) and nothing is sent.
   */
  requestSchema?: InputSchema<Req>;
  /** Exchange to publish the request to. Default `''` (the default exchange: the routing key names the queue). */
  exchange?: string;
  /** How long to wait for the reply (and, while reconnecting, for a connection). Default {@link DEFAULT_RPC_TIMEOUT_MS}. */
  timeoutMs?: number;
  /**
   * Aborting it rejects the call at once with code `ERR_ABORTED` (the signal's reason as `cause`); a reply
   * that arrives later is dropped. A request already written may still be handled by a server.
   */
  signal?: AbortSignal;
  /** Application headers sent with the request (the server handler sees them). Default none. */
  headers?: FieldTable;
  /** Overrides the content type chosen from the payload. */
  contentType?: string;
  /**
   * Per-message TTL of the request, so that no server works on a request whose caller gave up. Default:
   * `timeoutMs`; `false` for none.
   */
  expiration?: number | false;
}

/** An RPC server's handler: gets the decoded request (JSON, text or bytes), returns the reply. */
export type RpcHandler<Req = unknown, Res = unknown> = (
  request: Req,
  msg: ConsumeMessage<Buffer>,
) => Res | Promise<Res>;

/** Options of {@link rpcServer}. */
export interface RpcServerOptions<Req = unknown, Res = unknown>
  extends Pick<ConsumeOptions, 'prefetch' | 'concurrency' | 'exclusive' | 'priority' | 'consumerTag' | 'arguments'> {
  /** A handler that has not answered after this many ms is answered with an error reply. Default: none. */
  handlerTimeoutMs?: number;
  /** Validates a JSON request (a Standard Schema, or safeParse/parse); a request that fails it gets an error reply. */
  schema?: Schema<Req>;
  /** Validates the handler's result before it is sent; a result that fails it is answered with an error reply. */
  responseSchema?: InputSchema<Res>;
}
