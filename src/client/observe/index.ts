/**
 * Observability: warren's `node:diagnostics_channel` channels (names and payloads) and `mq.stats()`.
 * The OpenTelemetry integration (`warren/otel`) is built on these channels.
 * @module
 */
export {
  type BlockedEvent,
  CHANNELS,
  type ChannelName,
  type ClientInfo,
  type ConnectEvent,
  type ContextWrapper,
  type DeliverEvent,
  type DisconnectEvent,
  type FailureEvent,
  type HeaderValue,
  type PublishEvent,
  type ReconnectingEvent,
  type SettleEvent,
  type SettleKind,
  type UnblockedEvent,
} from './channels.js';
export { HANDLER_ERROR_WARNING } from './client.js';
export type { ClientStats } from './stats.js';
