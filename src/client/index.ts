/** The high-level client: topology as data, settings, retries, AsyncRabbitMQ. */
export * from './async-rabbitmq.js';
export * from './config.js';
export * from './consumer.js';
export * from './errors.js';
export type { MessageBody, PublishMessageOptions } from './message.js';
export type { PublishBufferOptions } from './publisher.js';
export * from './retry.js';
export * from './rpc.js';
export type { CallOptions } from './session/deadline.js';
export type { Credentials, CredentialsProvider } from './session/session.js';
export type {
  EventSink,
  Generation,
  Participant,
  Session,
  SessionEvents,
  SessionHost,
  SessionState,
} from './session/types.js';
export * from './settings.js';
