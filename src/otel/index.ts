/**
 * `warren/otel`: OpenTelemetry traces and metrics for warren, built on its diagnostics channels (see
 * `CHANNELS` in `warren`). warren itself never imports `@opentelemetry/api`; this module does, as an
 * optional peer dependency, and subscribes to the channels when {@link instrumentWarren} is called.
 *
 * - A PRODUCER span `publish <exchange>` per message published, from `publishMessage` until the broker's
 *   confirm (an error status on nack, return or any other failure), whose W3C trace context
 *   (`traceparent`, `tracestate`) goes in the message's headers.
 * - A CONSUMER span `process <queue>` per handler run, child of the producer's span when the message
 *   carries its context, active while the handler runs (so spans the handler starts are its children).
 * - Metrics: publish confirm latency, published / confirmed / nacked / returned / failed publishes,
 *   the publish buffer's depth, reconnects, time blocked, deliveries processed / failed / retried /
 *   dead-lettered, handler duration.
 *
 * Attributes follow the OpenTelemetry messaging semantic conventions for RabbitMQ: `messaging.system`
 * `rabbitmq`, `messaging.destination.name` (the exchange; `''` for the default exchange),
 * `messaging.rabbitmq.destination.routing_key`, `messaging.message.id`,
 * `messaging.message.conversation_id` (the correlation id), `messaging.message.body.size`,
 * `messaging.operation.type` / `.name`, `server.address`, `server.port`, `error.type` on failure.
 *
 * @example
 * ```ts
 * import { instrumentWarren } from 'warren/otel';
 *
 * // After the OpenTelemetry SDK is set up (a context manager registered, so the handler's span is active):
 * const instrumentation = instrumentWarren();
 * // ...
 * instrumentation.disable();
 * ```
 * @module
 */

import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  type Counter,
  context,
  type Histogram,
  type MeterProvider,
  metrics,
  type ObservableCounter,
  type ObservableResult,
  type ObservableUpDownCounter,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  CHANNELS,
  type ClientInfo,
  type ConnectEvent,
  type DeliverEvent,
  type DisconnectEvent,
  type FailureEvent,
  type PublishEvent,
  type UnblockedEvent,
} from '../client/observe/channels.js';
import { VERSION } from '../connection/handshake.js';

/** Options of {@link instrumentWarren}. */
export interface WarrenInstrumentationOptions {
  /** Default: the global tracer provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider;
  /** Default: the global meter provider (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
  /** How the trace context goes into and comes out of headers. Default: the global propagator (W3C trace context). */
  propagator?: TextMapPropagator;
  /** Make spans. Default true. */
  traces?: boolean;
  /** Record metrics. Default true. */
  metrics?: boolean;
}

/** What {@link instrumentWarren} returns: switch it off with {@link disable}. */
export interface WarrenInstrumentation {
  /** Unsubscribes from warren's channels; spans already started are still ended when their operation ends. */
  disable(): void;
}

/** Span and metric attribute names used (the OpenTelemetry messaging semantic conventions). */
export const ATTR = Object.freeze({
  /** `messaging.system`: always `"rabbitmq"`, on every span and metric. */
  system: 'messaging.system',
  /** `messaging.operation.type`: `"send"` on publish spans, `"process"` on consumer spans. */
  operationType: 'messaging.operation.type',
  /** `messaging.operation.name`: `"publish"` on publish spans, `"process"` on consumer spans. */
  operationName: 'messaging.operation.name',
  /**
   * `messaging.destination.name`: the exchange the message was published to (publish spans and publish
   * metrics) or arrived through (consumer spans); `""` for the default exchange.
   */
  destination: 'messaging.destination.name',
  /** `messaging.destination.subscription.name`: the queue consumed from (consumer spans and consume metrics). */
  subscription: 'messaging.destination.subscription.name',
  /** `messaging.rabbitmq.destination.routing_key`: the message's routing key, on spans; left out when it is `""`. */
  routingKey: 'messaging.rabbitmq.destination.routing_key',
  /** `messaging.rabbitmq.message.delivery_tag`: the delivery tag on the consumer's channel, on consumer spans. */
  deliveryTag: 'messaging.rabbitmq.message.delivery_tag',
  /** `messaging.message.id`: the message's `messageId` property, on spans, when it has one. */
  messageId: 'messaging.message.id',
  /** `messaging.message.conversation_id`: the message's `correlationId` property, on spans, when it has one. */
  conversationId: 'messaging.message.conversation_id',
  /** `messaging.message.body.size`: the body's size in bytes, on spans. */
  bodySize: 'messaging.message.body.size',
  /**
   * `server.address`: the broker's host name or address of the connection, when known (spans, reconnect and blocked
   * metrics).
   */
  serverAddress: 'server.address',
  /** `server.port`: the broker's port of the connection, when known (spans, reconnect and blocked metrics). */
  serverPort: 'server.port',
  /**
   * `error.type`, on failed spans and on the metrics of failed outcomes: the error's `code` (e.g.
   * `"ERR_PUBLISH_NACKED"`, `"ERR_HANDLER_TIMEOUT"`), else its `name`, else `"_OTHER"`.
   */
  errorType: 'error.type',
} as const);

/** Metric names. Durations in seconds, as OpenTelemetry recommends. */
export const METRICS = Object.freeze({
  /**
   * Histogram, seconds: from `publishMessage` until the broker's confirm, or until another outcome
   * (nack, return, failure; then with `error.type`). Attributes `messaging.system`, `messaging.destination.name`.
   */
  confirmDuration: 'warren.publish.confirm.duration',
  /**
   * Counter, `{message}`: messages accepted by `publishMessage` into the publish buffer, per exchange
   * (`messaging.destination.name`).
   */
  published: 'warren.publish.published',
  /** Counter, `{message}`: publishes the broker confirmed (basic.ack), per exchange. */
  confirmed: 'warren.publish.confirmed',
  /**
   * Counter, `{message}`: publishes that ended in a PublishNackedError (the broker's basic.nack, after any
   * re-publishes), per exchange and `error.type`.
   */
  nacked: 'warren.publish.nacked',
  /**
   * Counter, `{message}`: mandatory publishes the broker returned as unroutable (basic.return), per exchange and
   * `error.type`.
   */
  returned: 'warren.publish.returned',
  /**
   * Counter, `{message}`: publishes that failed any other way (timeout, client closed, too large, refused by the
   * broker...), per exchange and `error.type`.
   */
  publishFailed: 'warren.publish.failed',
  /** Up-down counter, `{message}`: messages held until confirmed, the outage buffer plus those in flight. */
  pending: 'warren.publish.pending',
  /**
   * Counter: connections re-established after a loss (not the first connect, nor one after a clean disconnect), with
   * `server.address` / `server.port`.
   */
  reconnects: 'warren.connection.reconnects',
  /**
   * Counter, seconds: time the broker kept a connection blocked (connection.blocked, a resource alarm), added when it
   * is unblocked or lost while blocked.
   */
  blocked: 'warren.connection.blocked.duration',
  /** Counter, `{message}`: handler runs started, per queue (`messaging.destination.subscription.name`). */
  deliveries: 'warren.consume.deliveries',
  /** Counter, `{message}`: handler runs that resolved, per queue. */
  processed: 'warren.consume.processed',
  /** Counter, `{message}`: handler runs that threw, rejected or timed out, per queue and `error.type`. */
  failed: 'warren.consume.failed',
  /** Counter, `{message}`: failed messages published to a retry queue, per queue and `error.type`. */
  retried: 'warren.consume.retried',
  /**
   * Counter, `{message}`: messages sent to the dead-letter target (attempts exhausted, undecodable payload), per queue
   * and `error.type`.
   */
  deadLettered: 'warren.consume.dead_lettered',
  /** Histogram, seconds: how long each handler run took, per queue (and `error.type` when it failed). */
  handlerDuration: 'warren.consume.handler.duration',
} as const);

const DEFAULT_EXCHANGE_NAME = 'amq.default';

/** Header values are strings, or bytes when another client wrote them so. */
const headerGetter: TextMapGetter<Record<string, unknown>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const v = carrier[key];
    if (typeof v === 'string') return v;
    if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
    return undefined;
  },
};

const headerSetter: TextMapSetter<PublishEvent> = {
  set: (event, key, value) => event.setHeader(key, value),
};

function errorType(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const name = (err as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return '_OTHER';
}

function server(attrs: Attributes, client: ClientInfo): Attributes {
  if (client.serverAddress !== undefined) attrs[ATTR.serverAddress] = client.serverAddress;
  if (client.serverPort !== undefined) attrs[ATTR.serverPort] = client.serverPort;
  return attrs;
}

/**
 * A counter kept as plain numbers per attribute set and handed to the SDK when it collects (through an
 * observable instrument): a synchronous counter would hash its attributes on every message.
 */
class Tally {
  private readonly sets = new Map<string, { attributes: Attributes; value: number }>();

  add(value: number, key: string, attributes: (key: string) => Attributes): void {
    const set = this.sets.get(key);
    if (set !== undefined) set.value += value;
    else this.sets.set(key, { attributes: attributes(key), value });
  }

  readonly observe = (result: ObservableResult): void => {
    for (const { attributes, value } of this.sets.values()) result.observe(value, attributes);
  };
}

interface Instruments {
  confirmDuration: Histogram;
  published: Tally;
  confirmed: Tally;
  nacked: Tally;
  returned: Tally;
  publishFailed: Tally;
  pending: Tally;
  reconnects: Counter;
  blocked: Counter;
  deliveries: Tally;
  processed: Tally;
  failed: Tally;
  retried: Counter;
  deadLettered: Counter;
  handlerDuration: Histogram;
  /** Unregisters the observable instruments' callbacks. */
  close(): void;
}

function instruments(provider: MeterProvider): Instruments {
  const m = provider.getMeter('warren', VERSION);
  const seconds = { unit: 's' };
  const messages = { unit: '{message}' };
  const closers: Array<() => void> = [];
  const tally = (instrument: ObservableCounter | ObservableUpDownCounter): Tally => {
    const t = new Tally();
    instrument.addCallback(t.observe);
    closers.push(() => instrument.removeCallback(t.observe));
    return t;
  };
  const counter = (name: string, description: string) =>
    tally(m.createObservableCounter(name, { ...messages, description }));
  return {
    confirmDuration: m.createHistogram(METRICS.confirmDuration, {
      ...seconds,
      description: 'From publishMessage to the broker confirm (or another outcome)',
    }),
    published: counter(METRICS.published, 'Messages handed to the publish buffer'),
    confirmed: counter(METRICS.confirmed, 'Publishes the broker confirmed'),
    nacked: counter(METRICS.nacked, 'Publishes rejected with PublishNackedError'),
    returned: counter(METRICS.returned, 'Publishes returned as unroutable'),
    publishFailed: counter(METRICS.publishFailed, 'Publishes that failed otherwise'),
    pending: tally(
      m.createObservableUpDownCounter(METRICS.pending, {
        ...messages,
        description: 'Messages held until confirmed: the outage buffer plus those in flight',
      }),
    ),
    reconnects: m.createCounter(METRICS.reconnects, { description: 'Connections re-established after a loss' }),
    blocked: m.createCounter(METRICS.blocked, {
      ...seconds,
      description: 'Time the broker kept the connection blocked',
    }),
    deliveries: counter(METRICS.deliveries, 'Handler runs started'),
    processed: counter(METRICS.processed, 'Handler runs that resolved'),
    failed: counter(METRICS.failed, 'Handler runs that threw or timed out'),
    retried: m.createCounter(METRICS.retried, { ...messages, description: 'Failed messages sent to a retry queue' }),
    deadLettered: m.createCounter(METRICS.deadLettered, {
      ...messages,
      description: 'Messages sent to the dead-letter target',
    }),
    handlerDuration: m.createHistogram(METRICS.handlerDuration, { ...seconds, description: 'How long a handler ran' }),
    close: () => {
      for (const close of closers) close();
    },
  };
}

/** Attribute sets made once per key (an exchange, a queue, with an error type): a message allocates none. */
function cached(make: (key: string) => Attributes): (key: string) => Attributes {
  const sets = new Map<string, Attributes>();
  return (key) => {
    let a = sets.get(key);
    if (a === undefined) {
      a = make(key);
      sets.set(key, a);
    }
    return a;
  };
}

/** `<name>\n<error type>`: the key of an attribute set with an error type. */
const SEP = '\n';
const withError = (key: string, err: unknown): string => `${key}${SEP}${errorType(err)}`;
const split = (key: string): [string, string | undefined] => {
  const i = key.indexOf(SEP);
  return i < 0 ? [key, undefined] : [key.slice(0, i), key.slice(i + 1)];
};

/**
 * Subscribes OpenTelemetry tracing and metrics to warren's diagnostics channels, for every client of
 * the process. Call it once, after the SDK is set up; `disable()` undoes it.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api';
 * import { instrumentWarren } from 'warren/otel';
 *
 * instrumentWarren({ tracerProvider: trace.getTracerProvider() });
 * await mq.publishMessage('jobs', { id: 1 });   // span "publish amq.default", traceparent in the headers
 * await mq.consume('jobs', handle);             // span "process jobs", child of the publish span
 * ```
 */
export function instrumentWarren(options: WarrenInstrumentationOptions = {}): WarrenInstrumentation {
  const tracer =
    options.traces === false
      ? undefined
      : (options.tracerProvider ?? trace.getTracerProvider()).getTracer('warren', VERSION);
  const m = options.metrics === false ? undefined : instruments(options.meterProvider ?? metrics.getMeterProvider());
  const propagator: Pick<TextMapPropagator, 'inject' | 'extract'> = options.propagator ?? propagation;
  const publishSpans = new WeakMap<PublishEvent, Span>();
  const pending = new WeakSet<PublishEvent>();
  const processSpans = new WeakMap<DeliverEvent, Span>();
  /** Clients whose last connection was lost (not closed): their next connect is a reconnect. */
  const lost = new Set<number>();

  const publishAttributes = cached((key) => {
    const [exchange, error] = split(key);
    const a: Attributes = { [ATTR.system]: 'rabbitmq', [ATTR.destination]: exchange };
    if (error !== undefined) a[ATTR.errorType] = error;
    return a;
  });
  const consumeAttributes = cached((key) => {
    const [queue, error] = split(key);
    const a: Attributes = { [ATTR.system]: 'rabbitmq', [ATTR.subscription]: queue };
    if (error !== undefined) a[ATTR.errorType] = error;
    return a;
  });
  const systemOnly = cached(() => ({ [ATTR.system]: 'rabbitmq' }));

  const onPublish = (message: unknown): void => {
    const e = message as PublishEvent;
    if (m !== undefined) {
      m.published.add(1, e.exchange, publishAttributes);
      m.pending.add(1, '', systemOnly);
      pending.add(e);
    }
    if (tracer === undefined) return;
    const p = e.properties;
    const attributes: Attributes = {
      [ATTR.system]: 'rabbitmq',
      [ATTR.operationType]: 'send',
      [ATTR.operationName]: 'publish',
      [ATTR.destination]: e.exchange,
      [ATTR.bodySize]: e.bodySize,
    };
    if (e.routingKey !== '') attributes[ATTR.routingKey] = e.routingKey;
    if (p.messageId !== undefined) attributes[ATTR.messageId] = p.messageId;
    if (p.correlationId !== undefined) attributes[ATTR.conversationId] = p.correlationId;
    server(attributes, e.client);
    const parent = context.active();
    const span = tracer.startSpan(
      `publish ${e.exchange === '' ? DEFAULT_EXCHANGE_NAME : e.exchange}`,
      { kind: SpanKind.PRODUCER, attributes },
      parent,
    );
    publishSpans.set(e, span);
    propagator.inject(trace.setSpan(parent, span), e, headerSetter);
  };

  const publishEnded = (
    message: unknown,
    outcome: keyof Pick<Instruments, 'confirmed' | 'nacked' | 'returned' | 'publishFailed'>,
  ): void => {
    const e = message as PublishEvent;
    if (m !== undefined && pending.has(e)) {
      pending.delete(e);
      const key = e.error === undefined ? e.exchange : withError(e.exchange, e.error);
      m[outcome].add(1, key, publishAttributes);
      m.confirmDuration.record(e.durationMs / 1000, publishAttributes(key));
      m.pending.add(-1, '', systemOnly);
    }
    const span = publishSpans.get(e);
    if (span === undefined) return;
    publishSpans.delete(e);
    if (e.error !== undefined) fail(span, e.error);
    span.end();
  };
  const onConfirm = (message: unknown) => publishEnded(message, 'confirmed');
  const onNack = (message: unknown) => publishEnded(message, 'nacked');
  const onReturn = (message: unknown) => publishEnded(message, 'returned');
  const onPublishError = (message: unknown) => publishEnded(message, 'publishFailed');

  const onDeliver = (message: unknown): void => {
    const d = message as DeliverEvent;
    m?.deliveries.add(1, d.queue, consumeAttributes);
    if (tracer === undefined) return;
    const msg = d.message;
    const f = msg.fields;
    const p = msg.properties;
    const attributes: Attributes = {
      [ATTR.system]: 'rabbitmq',
      [ATTR.operationType]: 'process',
      [ATTR.operationName]: 'process',
      [ATTR.destination]: f.exchange,
      [ATTR.subscription]: d.queue,
      [ATTR.deliveryTag]: f.deliveryTag,
      [ATTR.bodySize]: msg.body.length,
    };
    if (f.routingKey !== '') attributes[ATTR.routingKey] = f.routingKey;
    if (p.messageId !== undefined) attributes[ATTR.messageId] = p.messageId;
    if (p.correlationId !== undefined) attributes[ATTR.conversationId] = p.correlationId;
    server(attributes, d.client);
    // The producer's context, from the headers; a message without one starts a trace of its own.
    const parent = propagator.extract(ROOT_CONTEXT, msg.headers as Record<string, unknown>, headerGetter);
    const span = tracer.startSpan(`process ${d.queue}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    processSpans.set(d, span);
    const active: Context = trace.setSpan(parent, span);
    d.bind((fn) => context.with(active, fn));
  };

  const onDeliverDone = (message: unknown): void => {
    const d = message as DeliverEvent;
    if (m !== undefined) {
      const key = d.error === undefined ? d.queue : withError(d.queue, d.error);
      (d.error === undefined ? m.processed : m.failed).add(1, key, consumeAttributes);
      m.handlerDuration.record(d.durationMs / 1000, consumeAttributes(key));
    }
    const span = processSpans.get(d);
    if (span === undefined) return;
    processSpans.delete(d);
    if (d.error !== undefined) fail(span, d.error);
    span.end();
  };

  const onRetry = (message: unknown) => m?.retried.add(1, failureAttributes(message as FailureEvent));
  const onDeadLetter = (message: unknown) => m?.deadLettered.add(1, failureAttributes(message as FailureEvent));

  const onConnect = (message: unknown): void => {
    const e = message as ConnectEvent;
    if (lost.delete(e.client.id)) m?.reconnects.add(1, server({ [ATTR.system]: 'rabbitmq' }, e.client));
  };
  const onDisconnect = (message: unknown): void => {
    const e = message as DisconnectEvent;
    if (e.error !== undefined) lost.add(e.client.id);
    else lost.delete(e.client.id);
  };
  const onUnblocked = (message: unknown): void => {
    const e = message as UnblockedEvent;
    m?.blocked.add(e.blockedMs / 1000, server({ [ATTR.system]: 'rabbitmq' }, e.client));
  };

  const subscriptions: Array<[string, (message: unknown, name: string | symbol) => void]> = [
    [CHANNELS.publish, onPublish],
    [CHANNELS.publishConfirm, onConfirm],
    [CHANNELS.publishNack, onNack],
    [CHANNELS.publishReturn, onReturn],
    [CHANNELS.publishError, onPublishError],
    [CHANNELS.deliver, onDeliver],
    [CHANNELS.deliverDone, onDeliverDone],
  ];
  if (m !== undefined) {
    subscriptions.push(
      [CHANNELS.retry, onRetry],
      [CHANNELS.deadLetter, onDeadLetter],
      [CHANNELS.connect, onConnect],
      [CHANNELS.disconnect, onDisconnect],
      [CHANNELS.unblocked, onUnblocked],
    );
  }
  for (const [name, fn] of subscriptions) subscribe(name, fn);
  let enabled = true;
  return {
    disable() {
      if (!enabled) return;
      enabled = false;
      for (const [name, fn] of subscriptions) unsubscribe(name, fn);
      m?.close();
    },
  };
}

function failureAttributes(e: FailureEvent): Attributes {
  return { [ATTR.system]: 'rabbitmq', [ATTR.subscription]: e.queue, [ATTR.errorType]: errorType(e.error) };
}

function fail(span: Span, err: unknown): void {
  span.setAttribute(ATTR.errorType, errorType(err));
  if (err instanceof Error) span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}
