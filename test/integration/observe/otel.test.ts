/**
 * warren/otel against the real broker, with the OpenTelemetry SDK's in-memory exporters: a publish and its
 * consumption are two spans of one trace (the trace context crosses in the message headers), with the
 * messaging attributes; the metrics are recorded; disable() stops it all.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { instrumentWarren, METRICS, type WarrenInstrumentation } from '../../../src/otel/index.js';
import { waitFor } from '../../helpers/wait.js';
import { consumeFixture } from '../client/consume-fixture.js';

const { client, queueName } = consumeFixture();

class TestReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const reader = new TestReader();
const meterProvider = new MeterProvider({ readers: [reader] });
const contextManager = new AsyncLocalStorageContextManager();
// One instrumentation for the file, as an application has: its counters only grow, test after test.
let instrumentation: WarrenInstrumentation | undefined;

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  instrumentation = instrumentWarren({ tracerProvider, meterProvider, propagator: new W3CTraceContextPropagator() });
});
afterAll(async () => {
  instrumentation?.disable();
  context.disable();
  propagation.disable();
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
});
afterEach(() => {
  exporter.reset();
});

/** The spans warren made (not the ones the test's handler made). */
function warrenSpans(): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === 'warren');
}

async function metricsByName(): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await reader.collect();
  const out = new Map<string, MetricData>();
  for (const scope of resourceMetrics.scopeMetrics) for (const m of scope.metrics) out.set(m.descriptor.name, m);
  return out;
}

/** The sum of a counter's points whose attributes include `where`. */
function total(m: Map<string, MetricData>, name: string, where: Record<string, unknown> = {}): number {
  const metric = m.get(name);
  if (metric === undefined) return 0;
  let sum = 0;
  for (const p of metric.dataPoints) {
    if (!Object.entries(where).every(([k, v]) => p.attributes[k] === v)) continue;
    const v = p.value as number | { count: number };
    sum += typeof v === 'number' ? v : v.count;
  }
  return sum;
}

describe('warren/otel', () => {
  it('one publish and its consumption are two spans of one trace, with the RabbitMQ attributes; metrics recorded', async () => {
    const q = queueName('otel.trace');
    const mq = await client({ queues: [{ name: q }] });
    const before = await metricsByName();
    let inHandler: { traceId: string; spanId: string } | undefined;
    let handlerHeaders: Record<string, unknown> = {};
    const consumer = await mq.consume(q, (msg) => {
      handlerHeaders = msg.headers;
      // The process span is active while the handler runs: a span it starts is its child.
      const child = trace.getTracer('test').startSpan('handler work');
      inHandler = { traceId: child.spanContext().traceId, spanId: trace.getActiveSpan()!.spanContext().spanId };
      child.end();
    });
    await mq.publishMessage(q, 'hello', { messageId: 'm-1', correlationId: 'c-1' });
    await waitFor(() => warrenSpans().length === 2, 'two warren spans');

    const spans = warrenSpans();
    const producer = spans.find((s) => s.kind === SpanKind.PRODUCER)!;
    const consumerSpan = spans.find((s) => s.kind === SpanKind.CONSUMER)!;
    expect(spans.map((s) => s.name).sort()).toEqual([`process ${q}`, 'publish amq.default'].sort());
    expect(consumerSpan.spanContext().traceId).toBe(producer.spanContext().traceId);
    expect(consumerSpan.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
    expect(producer.parentSpanContext).toBeUndefined();
    expect(handlerHeaders.traceparent).toBe(`00-${producer.spanContext().traceId}-${producer.spanContext().spanId}-01`);
    expect(inHandler).toEqual({ traceId: producer.spanContext().traceId, spanId: consumerSpan.spanContext().spanId });
    const port = Number(new URL(mq.settings.urls[0]!).port);
    expect(producer.attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': '',
      'messaging.rabbitmq.destination.routing_key': q,
      'messaging.message.id': 'm-1',
      'messaging.message.conversation_id': 'c-1',
      'messaging.message.body.size': 5,
      'server.address': '127.0.0.1',
      'server.port': port,
    });
    expect(consumerSpan.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': '',
      'messaging.destination.subscription.name': q,
      'messaging.rabbitmq.destination.routing_key': q,
      'messaging.message.id': 'm-1',
      'messaging.message.conversation_id': 'c-1',
      'messaging.message.body.size': 5,
      'server.address': '127.0.0.1',
      'server.port': port,
    });
    expect(typeof consumerSpan.attributes['messaging.rabbitmq.message.delivery_tag']).toBe('number');
    expect(producer.status.code).toBe(SpanStatusCode.UNSET);
    expect(consumerSpan.status.code).toBe(SpanStatusCode.UNSET);

    const after = await metricsByName();
    const grew = (name: string, where?: Record<string, unknown>) =>
      total(after, name, where) - total(before, name, where);
    expect(grew(METRICS.published)).toBe(1);
    expect(grew(METRICS.confirmed)).toBe(1);
    expect(grew(METRICS.confirmDuration)).toBe(1);
    expect(grew(METRICS.deliveries, { 'messaging.destination.subscription.name': q })).toBe(1);
    expect(grew(METRICS.processed, { 'messaging.destination.subscription.name': q })).toBe(1);
    expect(grew(METRICS.handlerDuration, { 'messaging.destination.subscription.name': q })).toBe(1);
    expect(total(after, METRICS.pending)).toBe(0);
    await consumer.stop();
  });

  it('a failing handler: error status on the process span; failed, retried and dead-lettered counted; returns too', async () => {
    const q = queueName('otel.fail', [20]);
    const mq = await client({ queues: [{ name: q }] });
    const before = await metricsByName();
    const consumer = await mq.consume(
      q,
      () => {
        throw new Error('boom');
      },
      { retry: { attempts: 2, delayMs: 20 } },
    );
    consumer.on('error', () => {});
    await mq.publishMessage(q, 'bad');
    const sub = { 'messaging.destination.subscription.name': q };
    await waitFor(async () => total(await metricsByName(), METRICS.deadLettered, sub) > 0, 'the dead-lettering');
    const unroutable = await mq.publishMessage(`${q}.nowhere`, 'x').catch((err: unknown) => err);
    expect(unroutable).toMatchObject({ code: 'ERR_UNROUTABLE' });

    const processes = warrenSpans().filter((s) => s.kind === SpanKind.CONSUMER);
    expect(processes).toHaveLength(2);
    for (const s of processes) {
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
      expect(s.attributes['error.type']).toBe('Error');
      expect(s.events.map((e) => e.name)).toEqual(['exception']);
    }
    // The original, the retry copy, the dead-letter copy, the unroutable one.
    const producers = warrenSpans().filter((s) => s.kind === SpanKind.PRODUCER);
    // Ended in the order the broker confirmed them, which is not always the order they were published in.
    expect(producers.map((s) => s.name).sort()).toEqual(
      ['publish amq.default', 'publish amq.default', `publish ${q}.dead`, 'publish amq.default'].sort(),
    );
    const failedPublishes = producers.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failedPublishes).toHaveLength(1);
    expect(failedPublishes[0]!.attributes['error.type']).toBe('ERR_UNROUTABLE');
    expect(failedPublishes[0]!.attributes['messaging.rabbitmq.destination.routing_key']).toBe(`${q}.nowhere`);

    const after = await metricsByName();
    const grew = (name: string, where?: Record<string, unknown>) =>
      total(after, name, where) - total(before, name, where);
    expect(grew(METRICS.failed, sub)).toBe(2);
    expect(grew(METRICS.processed, sub)).toBe(0);
    expect(grew(METRICS.retried, sub)).toBe(1);
    expect(grew(METRICS.deadLettered, sub)).toBe(1);
    expect(grew(METRICS.published)).toBe(4);
    expect(grew(METRICS.confirmed)).toBe(3);
    expect(grew(METRICS.returned)).toBe(1);
    await consumer.stop();
  });

  it('disable() stops it: no span, no header, no metric', async () => {
    const q = queueName('otel.off');
    const mq = await client({ queues: [{ name: q }] });
    instrumentation!.disable(); // the last test of the file
    const before = await metricsByName();
    const headers: Array<Record<string, unknown>> = [];
    const consumer = await mq.consume(q, (msg) => {
      headers.push(msg.headers);
    });
    await mq.publishMessage(q, 'x');
    await waitFor(() => headers.length === 1, 'the delivery');
    await consumer.stop();
    expect(warrenSpans()).toEqual([]);
    expect(headers[0]).toEqual({});
    const after = await metricsByName();
    expect(total(after, METRICS.published) - total(before, METRICS.published)).toBe(0);
  });
});
