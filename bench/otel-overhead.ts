/**
 * What tracing costs: CPU µs per message of publishMessage + consume through one client, with the
 * `warren/otel` instrumentation subscribed (spans through a BatchSpanProcessor to a discarding exporter, metrics to a reader, the
 * AsyncLocalStorage context manager) and without it (no diagnostics-channel subscriber at all), in the
 * same process, alternating phases so that warm-up and broker load fall on both alike.
 *
 *   npx tsx bench/otel-overhead.ts            # BENCH_N=20000 messages a phase, BENCH_REPEAT=3 phases each
 *
 * Environment: BENCH_N, BENCH_REPEAT, BENCH_BODY_SIZE (100), BENCH_URL (default WARREN_TEST_URL or
 * amqp://guest:guest@127.0.0.1:5672/%2F). Prints one line per phase and the medians; exits 1 on a lost message.
 */
import { randomBytes } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { AsyncRabbitMQ } from '../src/index.js';
import { instrumentWarren } from '../src/otel/index.js';

const N = Number(process.env.BENCH_N ?? 20_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const BODY = randomBytes(Number(process.env.BENCH_BODY_SIZE ?? 100));
const URL = process.env.BENCH_URL ?? process.env.WARREN_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
const WINDOW = 1000;
/** Phases to alternate: `off` (nothing subscribed), `on` (traces + metrics), and to tell the costs apart `als`
 * (only the AsyncLocalStorage context manager), `traces`, `metrics`. */
type Mode = 'off' | 'on' | 'als' | 'traces' | 'metrics';
const MODES = (process.env.BENCH_MODES ?? 'off,on').split(',') as Mode[];

class Reader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** Spans are made, ended and handed to an exporter that drops them: the cost of tracing, not of shipping spans. */
const discard: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: async () => {},
};

async function phase(mq: AsyncRabbitMQ, queue: string): Promise<{ cpuUs: number; wallMs: number }> {
  let received = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const consumer = await mq.consume(
    queue,
    () => {
      if (++received === N) resolveAll();
    },
    { prefetch: WINDOW, deadLetter: false },
  );
  for (let sent = 0; sent < N; sent += WINDOW) {
    const batch: Promise<void>[] = [];
    for (let i = sent; i < Math.min(N, sent + WINDOW); i++) batch.push(mq.publishMessage(queue, BODY));
    await Promise.all(batch);
  }
  await all;
  await consumer.stop();
  const cpu = process.cpuUsage(cpu0);
  if (received !== N) throw new Error(`received ${received} of ${N}`);
  return { cpuUs: (cpu.user + cpu.system) / N, wallMs: performance.now() - t0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const queue = `warren-bench.otel.${randomBytes(4).toString('hex')}`;
  const mq = new AsyncRabbitMQ({ queues: [{ name: queue, durable: true }] }, { urls: URL });
  await mq.connect();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(discard)] });
  const meterProvider = new MeterProvider({ readers: [new Reader()] });
  const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  try {
    await phase(mq, queue); // warm-up, not counted
    for (let r = 0; r < REPEAT; r++) {
      for (const mode of MODES) {
        let instrumentation: { disable(): void } | undefined;
        if (mode !== 'off') context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
        if (mode === 'on' || mode === 'traces' || mode === 'metrics') {
          instrumentation = instrumentWarren({
            tracerProvider,
            meterProvider,
            propagator: new W3CTraceContextPropagator(),
            traces: mode !== 'metrics',
            metrics: mode !== 'traces',
          });
        }
        try {
          const { cpuUs, wallMs } = await phase(mq, queue);
          results.get(mode)!.push(cpuUs);
          console.log(
            `${mode.padEnd(7)}  ${cpuUs.toFixed(1).padStart(6)} µs CPU/msg  ${(N / (wallMs / 1000)).toFixed(0)} msg/s`,
          );
        } finally {
          instrumentation?.disable();
          if (mode !== 'off') context.disable();
        }
      }
    }
  } finally {
    const ch = await mq.getChannel();
    await ch.queueDelete({ queue }).catch(() => {});
    await mq.disconnect();
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  }
  const off = median(results.get('off') ?? [0]);
  console.log(`median of ${REPEAT} × ${N} messages (publishMessage + consume, ${BODY.length} B body), CPU µs/msg:`);
  for (const [mode, xs] of results) {
    const m = median(xs);
    const extra = mode === 'off' ? '' : `  (+${(m - off).toFixed(1)} µs/msg over off)`;
    console.log(`  ${mode.padEnd(7)} ${m.toFixed(1).padStart(6)}${extra}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
