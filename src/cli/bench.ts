/**
 * `warren bench`: publish+confirm, then consume+ack, on a scratch exclusive queue of this connection,
 * with a live progress bar; then a table of msg/s, MB/s, client CPU µs per message and confirm latency.
 */
import { randomBytes } from 'node:crypto';
import { type ConnectOptions, client, withClient } from './client.js';
import type { CliIO } from './io.js';
import { formatNumber, Progress, percentile, progressLine, table } from './render.js';

/** Options of `warren bench`. */
export interface BenchOptions extends ConnectOptions {
  size: number;
  count: number;
  consumers: number;
  json: boolean;
}

/** The figures of one phase. */
export interface PhaseResult {
  messages: number;
  seconds: number;
  msgPerSec: number;
  mbPerSec: number;
  cpuMicrosPerMsg: number;
}

/** The figures of a bench run. */
export interface BenchResult {
  size: number;
  consumers: number;
  publish: PhaseResult & { p50ConfirmMs: number; p99ConfirmMs: number };
  consume: PhaseResult;
}

const WINDOW = 1000;

function phase(messages: number, size: number, startNs: bigint, cpu: NodeJS.CpuUsage): PhaseResult {
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  const used = process.cpuUsage(cpu);
  return {
    messages,
    seconds,
    msgPerSec: messages / seconds,
    mbPerSec: (messages * size) / seconds / 1e6,
    cpuMicrosPerMsg: (used.user + used.system) / messages,
  };
}

/** Runs the benchmark and prints its table (or JSON). */
export async function bench(o: BenchOptions, io: CliIO): Promise<void> {
  const queue = `warren.bench.${randomBytes(6).toString('hex')}`;
  // Exclusive: the queue goes away with this connection, even if the bench is killed.
  const mq = client(o, { queues: [{ name: queue, durable: false, exclusive: true }] }, 'warren bench');
  const body = randomBytes(o.size);
  const progress = new Progress(io.progress);
  const result = await withClient(mq, async () => {
    const latencies = new Float64Array(o.count);
    const inFlight = new Set<Promise<void>>();
    let confirmed = 0;
    let cpu = process.cpuUsage();
    let start = process.hrtime.bigint();
    for (let i = 0; i < o.count; i++) {
      while (inFlight.size >= WINDOW) await Promise.race(inFlight);
      const sentAt = process.hrtime.bigint();
      const p = mq.publishMessage(queue, body, { persistent: true }).then(() => {
        latencies[i] = Number(process.hrtime.bigint() - sentAt) / 1e6;
        confirmed++;
        inFlight.delete(p);
        progress.update(progressLine('publish', confirmed, o.count));
      });
      inFlight.add(p);
    }
    await Promise.all(inFlight);
    const published = phase(o.count, o.size, start, cpu);
    progress.done(progressLine('publish', confirmed, o.count, `${formatNumber(published.msgPerSec)} msg/s`));

    let consumed = 0;
    let allIn: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    cpu = process.cpuUsage();
    start = process.hrtime.bigint();
    const consumers = [];
    for (let c = 0; c < o.consumers; c++) {
      consumers.push(
        await mq.consume(
          queue,
          () => {
            consumed++;
            progress.update(progressLine('consume', consumed, o.count));
            if (consumed === o.count) allIn();
          },
          { prefetch: WINDOW, deadLetter: false },
        ),
      );
    }
    await finished;
    const consumedPhase = phase(o.count, o.size, start, cpu);
    progress.done(progressLine('consume', consumed, o.count, `${formatNumber(consumedPhase.msgPerSec)} msg/s`));
    for (const c of consumers) await c.stop({ timeoutMs: 5000 });
    const sorted = Array.from(latencies);
    return {
      size: o.size,
      consumers: o.consumers,
      publish: { ...published, p50ConfirmMs: percentile(sorted, 50), p99ConfirmMs: percentile(sorted, 99) },
      consume: consumedPhase,
    } satisfies BenchResult;
  });
  if (o.json) {
    io.out(JSON.stringify(result));
    return;
  }
  const row = (name: string, r: PhaseResult, p50 = '', p99 = '') => [
    name,
    formatNumber(r.messages),
    formatNumber(r.msgPerSec),
    formatNumber(r.mbPerSec, 2),
    formatNumber(r.cpuMicrosPerMsg, 2),
    p50,
    p99,
  ];
  io.out(`${formatNumber(o.count)} × ${o.size} B persistent messages, ${o.consumers} consumer(s), window ${WINDOW}`);
  io.out(
    table(
      ['phase', 'messages', 'msg/s', 'MB/s', 'CPU µs/msg', 'p50 confirm', 'p99 confirm'],
      [
        row(
          'publish+confirm',
          result.publish,
          `${formatNumber(result.publish.p50ConfirmMs, 2)} ms`,
          `${formatNumber(result.publish.p99ConfirmMs, 2)} ms`,
        ),
        row('consume+ack', result.consume),
      ],
    ),
  );
}
