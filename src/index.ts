/**
 * warren: a RabbitMQ (AMQP 0-9-1) client for Node.js.
 *
 * - {@link AsyncRabbitMQ}: topology as data, self-healing connection, confirmed publishing, consumers, RPC.
 * - {@link connect}: the low-level engine (connections and channels) it is built on.
 * @module
 */
export * from './client/index.js';
export * from './connection/index.js';
export {
  type BasicProperties,
  ChannelError,
  CloseTimeoutError,
  ConnectionError,
  Decimal,
  DecodeError,
  EncodeError,
  type FieldTable,
  type FieldValue,
  ProtocolError,
  RawTimestamp,
  ReplyCode,
  RpcTimeoutError,
  replyCodeName,
  TypedValue,
  typed,
  WarrenError,
} from './protocol/index.js';
export { PublishManyError, type PublishManyFailure } from './sync/errors.js';
export type { ManyMessage } from './sync/mailbox.js';
export { SyncChannel, SyncRabbitMQ, type SyncRabbitMQOptions } from './sync/sync-rabbitmq.js';
