/**
 * The server side of RPC: {@link rpcServer} answers requests from a queue through a consumer.
 * @module
 */
import type { FieldTable } from '../../protocol/field-table.js';
import { type Consumer, type ConsumerHost, consume } from '../consume/consumer.js';
import { ConsumerOptionsError, errorText } from '../consume/errors.js';
import type { ConsumeMessage } from '../consume/message.js';
import { isSchema, validateOrThrow } from '../consume/schema.js';
import { decodeRequest, encodeReply, errorReply, isJson, withTimeout } from './codec.js';
import type { RpcHandler, RpcServerOptions } from './types.js';

/**
 * Answers RPC requests from `queue`: decodes each request (JSON for `application/json`, a string for
 * `text/*`, otherwise the bytes; then `schema`), calls `handler`, and publishes its result to the
 * request's `replyTo` with its `correlationId` (JSON when the request was JSON or the result is not a
 * string; bytes as they are), after checking it against `responseSchema` when given. A handler error (or
 * timeout, or a request failing `schema`, or a result failing `responseSchema`) is answered
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
  mq: ConsumerHost,
  queue: string,
  handler: RpcHandler<Req, Res>,
  options: RpcServerOptions<Req> = {},
): Promise<Consumer<Buffer>> {
  if (typeof handler !== 'function')
    return Promise.reject(new ConsumerOptionsError('rpcServer: handler must be a function'));
  for (const key of ['schema', 'responseSchema'] as const) {
    if (options[key] !== undefined && !isSchema(options[key])) {
      return Promise.reject(
        new ConsumerOptionsError(`rpcServer: options.${key} must be a Standard Schema or have safeParse/parse`),
      );
    }
  }
  const { handlerTimeoutMs, schema, responseSchema, ...consumeOptions } = options;
  const t = handlerTimeoutMs;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 0x7fffffff)) {
    return Promise.reject(
      new ConsumerOptionsError(`rpcServer: options.handlerTimeoutMs must be a positive number of ms, got ${String(t)}`),
    );
  }
  const session = mq.session;
  const logger = session.logger;
  const serve = async (msg: ConsumeMessage<Buffer>): Promise<void> => {
    const p = msg.properties;
    const json = isJson(p.contentType);
    let result: unknown;
    let failure: unknown;
    let failed = false;
    try {
      const request = await decodeRequest<Req>(msg.body, p.contentType, schema);
      result = await withTimeout(async () => handler(request, msg), t);
      if (responseSchema !== undefined)
        result = await validateOrThrow(responseSchema, result, `rpc server ${JSON.stringify(queue)}: the reply`);
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
      // Not mandatory: a caller that gave up or disconnected has no reply-to address any more, and RabbitMQ
      // 4.2+ no longer returns such replies; either way the reply settles (confirmed) and the request is acked.
      await session.publish(p.replyTo, reply.body, {
        exchange: '',
        mandatory: false,
        persistent: false,
        correlationId: p.correlationId,
        contentType: reply.contentType,
        headers: reply.headers,
      });
    } catch (err) {
      // The caller is gone or the connection dropped: it times out or sees the lost connection; nothing to retry.
      session.report(err, `rpc server ${JSON.stringify(queue)}: publishing a reply`);
    }
  };
  return consume<Buffer>(mq, queue, serve, { ...consumeOptions, deadLetter: false, json: false, manual: false });
}
