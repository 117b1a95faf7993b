/**
 * The `node:diagnostics_channel` channels warren publishes on, and the shape of what each carries.
 *
 * Nothing is built for a channel nobody subscribes to: every publishing site first checks the channel's
 * `hasSubscribers`, so with no subscriber an event costs a property read and no allocation. Subscribers
 * run synchronously, inside the call that published the event (in the caller's async context); one that
 * throws does not break the client (Node reports its error asynchronously, as an uncaught exception).
 *
 * The same event object travels through the channels of one operation — `warren:publish` then one of
 * `warren:publish:confirm` / `:nack` / `:return` / `:error`; `warren:deliver` then `warren:deliver:done` —
 * with `durationMs` and `error` filled in at the end, so a subscriber can keep its own state for the
 * operation keyed by the event object (a WeakMap).
 *
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * import { CHANNELS, type PublishEvent } from 'warren';
 *
 * subscribe(CHANNELS.publishConfirm, (message) => {
 *   const e = message as PublishEvent;
 *   histogram.record(e.durationMs, { exchange: e.exchange });
 * });
 * ```
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import type { BasicProperties } from '../../protocol/spec.js';
import type { HandlerError, MessageDecodeError } from '../consume/errors.js';
import type { ConsumeMessage } from '../consume/message.js';

/** Names of warren's diagnostics channels. */
export const CHANNELS = Object.freeze({
  /** A message is handed to the publish buffer ({@link PublishEvent}); subscribers may add headers. */
  publish: 'warren:publish',
  /** The broker confirmed it; `publishMessage` resolves ({@link PublishEvent}, `error` undefined). */
  publishConfirm: 'warren:publish:confirm',
  /** The broker nacked it for the last time: `PublishNackedError` ({@link PublishEvent}). */
  publishNack: 'warren:publish:nack',
  /** The broker returned it as unroutable: `UnroutableError` ({@link PublishEvent}). */
  publishReturn: 'warren:publish:return',
  /** It failed otherwise: timeout, closed client, too large, refused by the broker ({@link PublishEvent}). */
  publishError: 'warren:publish:error',
  /** A consumer's handler is about to run ({@link DeliverEvent}); subscribers may bind a context. */
  deliver: 'warren:deliver',
  /** The handler resolved (`error` undefined) or threw ({@link DeliverEvent}). */
  deliverDone: 'warren:deliver:done',
  /** A delivery was acked, nacked, rejected or dropped (its channel died) ({@link SettleEvent}). */
  settle: 'warren:settle',
  /** A failed message was sent to a retry queue ({@link FailureEvent}). */
  retry: 'warren:retry',
  /** A message was sent to the dead-letter target ({@link FailureEvent}). */
  deadLetter: 'warren:dead-letter',
  /** Connected (or reconnected) and the topology declared ({@link ConnectEvent}). */
  connect: 'warren:connect',
  /** The connection was lost (`error` set) or closed by `disconnect()` ({@link DisconnectEvent}). */
  disconnect: 'warren:disconnect',
  /** A reconnect attempt failed ({@link ReconnectingEvent}). */
  reconnecting: 'warren:reconnecting',
  /** The broker blocked the connection (resource alarm) ({@link BlockedEvent}). */
  blocked: 'warren:blocked',
  /** The broker unblocked it, or the blocked connection was lost ({@link UnblockedEvent}). */
  unblocked: 'warren:unblocked',
} as const);

/** The name of one of warren's diagnostics channels. */
export type ChannelName = (typeof CHANNELS)[keyof typeof CHANNELS];

/** Which client an event belongs to: one object per client, updated on every connect. */
export interface ClientInfo {
  /** Numbers the clients of this process from 1. */
  readonly id: number;
  /** The host of the broker node connected to last (no credentials). */
  readonly serverAddress: string | undefined;
  /** The port of that node. */
  readonly serverPort: number | undefined;
}

/** A header value as {@link PublishEvent.setHeader} accepts it. */
export type HeaderValue = NonNullable<BasicProperties['headers']>[string];

/** One `publishMessage` (or retry / dead-letter copy, or RPC reply) from buffer to outcome. */
export interface PublishEvent {
  /** The publishing client. */
  readonly client: ClientInfo;
  /** Exchange published to (`''`: the default exchange). */
  readonly exchange: string;
  /** Routing key (the queue's name, on the default exchange). */
  readonly routingKey: string;
  /** Whether an unroutable message is returned (and rejects with `UnroutableError`). */
  readonly mandatory: boolean;
  /** The message's properties as they will be sent (`messageId` always set). Read only: use {@link setHeader}. */
  readonly properties: Readonly<BasicProperties>;
  /** Body bytes. */
  readonly bodySize: number;
  /** `performance.now()` when it was handed to the buffer. */
  readonly startedAt: number;
  /** Milliseconds from {@link startedAt} to the outcome (0 until then): the confirm latency when confirmed. */
  readonly durationMs: number;
  /** Why it failed (`PublishNackedError`, `UnroutableError`, ...); undefined until then and when confirmed. */
  readonly error: unknown;
  /**
   * Adds a header (e.g. W3C `traceparent`) to the message. Only during `warren:publish`: it is written
   * to the wire after that. The caller's header object is never modified (the message gets a copy).
   */
  setHeader(name: string, value: HeaderValue): void;
}

/** Runs `fn` in some context (an OpenTelemetry span's, an AsyncLocalStorage store's) and returns what it returns. */
export type ContextWrapper = <R>(fn: () => R) => R;

/** One run of a consumer's handler. */
export interface DeliverEvent {
  /** The consumer's client. */
  readonly client: ClientInfo;
  /** The queue consumed (its current name, for a server-named queue). */
  readonly queue: string;
  /** What the handler gets: body, properties, headers, `fields` (exchange, routing key, delivery tag), attempt. */
  readonly message: ConsumeMessage<unknown>;
  /** `performance.now()` when the handler was called. */
  readonly startedAt: number;
  /** How long the handler ran (0 until `warren:deliver:done`). */
  readonly durationMs: number;
  /** What the handler threw; undefined when it resolved (or until then). */
  readonly error: unknown;
  /**
   * Runs the handler inside `wrapper` (during `warren:deliver` only): how a tracer makes the delivery's
   * span the active one for the handler. Wrappers of several subscribers nest, the first outermost.
   */
  bind(wrapper: ContextWrapper): void;
}

/** How a delivery was settled. `drop`: its channel died first, so the broker delivers it again. */
export type SettleKind = 'ack' | 'nack' | 'reject' | 'drop';

/** A delivery settled by a consumer (after its handler, or by the failure policy). */
export interface SettleEvent {
  /** The subscription the delivery came through. */
  readonly consumerTag: string;
  /** The delivery's tag on its channel. */
  readonly deliveryTag: number;
  /** What was done with it. */
  readonly kind: SettleKind;
  /** Whether a nack or reject asked the broker to requeue it. */
  readonly requeue: boolean;
  /** Whether anything was sent (false for `drop`, or when the channel was already closed). */
  readonly sent: boolean;
}

/** A message sent to a retry queue or the dead-letter target: `error` says which attempt failed and why. */
export interface FailureEvent {
  /** The consumer's client. */
  readonly client: ClientInfo;
  /** The queue the message was consumed from. */
  readonly queue: string;
  /** `HandlerError` (the handler failed) or `MessageDecodeError` (the payload could not be decoded). */
  readonly error: HandlerError | MessageDecodeError;
}

/** `warren:connect`: connected (or reconnected) and the topology declared. */
export interface ConnectEvent {
  /** The client, its server address and port updated to this connection. */
  readonly client: ClientInfo;
  /** The URL connected to, password masked. */
  readonly url: string;
}

/** `warren:disconnect`: the connection is gone. */
export interface DisconnectEvent {
  /** The client whose connection it was. */
  readonly client: ClientInfo;
  /** Why the connection was lost; undefined after `disconnect()`. */
  readonly error: Error | undefined;
}

/** `warren:reconnecting`: a reconnect attempt failed; the next follows after `delayMs`. */
export interface ReconnectingEvent {
  /** The client reconnecting. */
  readonly client: ClientInfo;
  /** 1-based number of the attempt that failed. */
  readonly attempt: number;
  /** Wait before the next attempt. */
  readonly delayMs: number;
  /** Why the attempt failed. */
  readonly error: unknown;
}

/** `warren:blocked`: the broker stopped reading from the connection (a memory or disk alarm). */
export interface BlockedEvent {
  /** The client blocked. */
  readonly client: ClientInfo;
  /** What the broker said (`low on memory`...). */
  readonly reason: string;
}

/** `warren:unblocked`: the block is over (unblocked, or the blocked connection was lost). */
export interface UnblockedEvent {
  /** The client that was blocked. */
  readonly client: ClientInfo;
  /** How long the connection was blocked. */
  readonly blockedMs: number;
}

/** The channel objects, made once: `diagnostics_channel.channel(name)` returns the same object for a name. */
export const publishChannel = channel(CHANNELS.publish);
export const publishConfirmChannel = channel(CHANNELS.publishConfirm);
export const publishNackChannel = channel(CHANNELS.publishNack);
export const publishReturnChannel = channel(CHANNELS.publishReturn);
export const publishErrorChannel = channel(CHANNELS.publishError);
export const deliverChannel = channel(CHANNELS.deliver);
export const deliverDoneChannel = channel(CHANNELS.deliverDone);
export const settleChannel = channel(CHANNELS.settle);
export const retryChannel = channel(CHANNELS.retry);
export const deadLetterChannel = channel(CHANNELS.deadLetter);
export const connectChannel = channel(CHANNELS.connect);
export const disconnectChannel = channel(CHANNELS.disconnect);
export const reconnectingChannel = channel(CHANNELS.reconnecting);
export const blockedChannel = channel(CHANNELS.blocked);
export const unblockedChannel = channel(CHANNELS.unblocked);
