/**
 * warren: a RabbitMQ (AMQP 0-9-1) client for Node.js.
 *
 * - {@link AsyncRabbitMQ}: topology as data, self-healing connection, confirmed publishing, consumers, RPC.
 * - {@link SyncRabbitMQ}: the same, blocking, for code that cannot await.
 * - {@link CHANNELS}: the `node:diagnostics_channel` events it publishes; `warren/otel` turns them into
 *   OpenTelemetry spans and metrics.
 *
 * The low-level engine (connections and channels) it is built on is `warren/engine`.
 * @module
 */
export {
  AsyncRabbitMQ,
  type AsyncRabbitMQEvents,
  type AsyncRabbitMQOptions,
  type ClientState,
  type DisconnectOptions,
} from './client/async-rabbitmq.js';
export {
  type Binding,
  type ConfigIssue,
  ConfigValidationError,
  defineConfig,
  type Exchange,
  ExchangeType,
  type ExchangeTypeName,
  type Queue,
  type QueueArguments,
  type RabbitMQConfig,
  type ResolvedBinding,
  type ResolvedConfig,
  type ResolvedExchange,
  type ResolvedQueue,
  validateConfig,
} from './client/config.js';
export {
  ATTEMPT_HEADER,
  ATTEMPTS_HEADER,
  type ConsumeHandler,
  type ConsumeMessage,
  type ConsumeOptions,
  Consumer,
  ConsumerCancelledError,
  type ConsumerEvents,
  type ConsumerHost,
  ConsumerOptionsError,
  type ConsumerState,
  consume,
  DEFAULT_PREFETCH,
  DEFAULT_STOP_TIMEOUT_MS,
  type DeadLetterTarget,
  deadLetterName,
  ERROR_CODE_HEADER,
  ERROR_HEADER,
  type FailedMessageInfo,
  type FailureOutcome,
  HandlerError,
  HandlerTimeoutError,
  MessageDecodeError,
  type MessageFields,
  NotManualModeError,
  ORIGINAL_EXCHANGE_HEADER,
  ORIGINAL_ROUTING_KEY_HEADER,
  QUEUE_HEADER,
  type RetryPolicy,
  RpcConnectionLostError,
  RpcNoServerError,
  RpcRemoteError,
  RpcTimeoutError,
  retryQueueName,
  type Schema,
  type SchemaIssue,
  SchemaValidationError,
  type StopOptions,
  type StreamConsumeOptions,
  type StreamOffset,
} from './client/consume/consumer.js';
export {
  ClientClosedError,
  InvalidMessageError,
  MessageTooLargeError,
  PublishNackedError,
  PublishTimeoutError,
  UnroutableError,
} from './client/errors.js';
export type { MessageBody, PublishMessageOptions } from './client/message.js';
export * from './client/observe/index.js';
export type { PublishBufferOptions } from './client/publisher.js';
export {
  connRetry,
  defaultShouldRetry,
  funcRetry,
  RetryAbortedError,
  RetryExhaustedError,
  type RetryOptions,
} from './client/retry.js';
export {
  DEFAULT_RPC_TIMEOUT_MS,
  DIRECT_REPLY_TO,
  type RpcHandler,
  type RpcHost,
  type RpcOptions,
  type RpcPayload,
  type RpcServerOptions,
  rpc,
  rpcServer,
} from './client/rpc/client.js';
export {
  type ConnectionOptions,
  type Logger,
  type ResolvedSettings,
  redactText,
  redactUrl,
  resolveSettings,
  SettingsError,
  silentLogger,
} from './client/settings.js';
// The engine's types that the client's own signatures show (getChannel(), connection, deliveries).
export type { Channel, Delivery, GetMessage, ReturnedMessage } from './connection/channel.js';
export type { Connection } from './connection/connection.js';
export { VERSION } from './connection/handshake.js';
export {
  type BasicProperties,
  ChannelError,
  CloseTimeoutError,
  ConnectionError,
  Decimal,
  DecodeError,
  DeprecatedFeatureError,
  EncodeError,
  type FieldTable,
  type FieldValue,
  ProtocolError,
  RawTimestamp,
  ReplyCode,
  replyCodeName,
  TypedValue,
  typed,
  WarrenError,
} from './protocol/index.js';
export { PublishManyError, type PublishManyFailure } from './sync/errors.js';
export type { ManyMessage } from './sync/mailbox.js';
export { SyncChannel, SyncRabbitMQ, type SyncRabbitMQOptions } from './sync/sync-rabbitmq.js';
