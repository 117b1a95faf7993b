/**
 * `warren/engine`: the AMQP 0-9-1 engine the client is built on, usable on its own: {@link connect} →
 * {@link Connection} → {@link Channel} with every AMQP method, confirms, returns, consumer cancel
 * notifications, heartbeats, TLS, PLAIN/EXTERNAL.
 *
 * @example
 * ```ts
 * import { connect } from 'warren/engine';
 *
 * const conn = await connect('amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30');
 * const ch = await conn.createChannel();
 * await ch.queueDeclare({ queue: 'jobs', durable: true });
 * await conn.close();
 * ```
 * @module
 */
export * from './connection/index.js';
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
  RpcTimeoutError,
  replyCodeName,
  TypedValue,
  typed,
  WarrenError,
} from './protocol/index.js';
