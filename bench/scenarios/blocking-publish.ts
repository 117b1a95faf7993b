/**
 * blocking-publish: n persistent messages published ONE AT A TIME, each call returning only after the
 * broker's confirm (SyncRabbitMQ.publishMessage, an awaited AsyncRabbitMQ.publishMessage, pika's
 * BlockingChannel with confirm_delivery). Per-call wall time and process CPU (all threads) are what
 * count here; see the targets in bench/targets.ts.
 */
import { makeBody, Stopwatch } from '../measure.js';
import type { Scenario } from './types.js';

export const NAME = 'blocking-publish';
/**
 * Published before the measured loop by every client (pika too: bench/python/), not counted in n. Enough
 * for V8 to have optimized the hot path of both threads of SyncRabbitMQ: a long-running service's steady
 * state is what the targets are about, not the first milliseconds of JIT compilation.
 */
export const WARM_UP = 1000;

const blockingPublish: Scenario = {
  section: 'throughput',
  // Judged by bench/targets.ts (vs pika and the awaited async client), not by the generic peer ratios.
  informational: true,
  label: 'blocking publish',
  messages: (config) => config.blockingN,
  runs: (config) => config.repeat,
  supports: (client) =>
    client.openBlockingPublisher !== undefined || (client.external?.scenarios.includes(NAME) ?? false),

  prepare: (admin, queue) => admin.declare(queue),

  async run(client, { url, queue, n, config }) {
    if (!client.openBlockingPublisher) {
      const run = await client.external!.run(NAME, { url, queue, n, bodySize: config.bodySize });
      return external(run);
    }
    const body = makeBody(config.bodySize);
    const publisher = await client.openBlockingPublisher({ url, queue });
    for (let i = 0; i < WARM_UP; i++) await publisher.publish(body);
    const watch = new Stopwatch();
    for (let i = 0; i < n; i++) {
      const done = publisher.publish(body);
      if (done) await done;
    }
    const result = watch.stop(n);
    await publisher.close();
    return result;
  },

  async verify(admin, queue, n) {
    const count = await admin.count(queue);
    // Every client publishes WARM_UP messages before the measured loop.
    return count === n + WARM_UP ? undefined : `queue holds ${count} messages, expected ${n} + ${WARM_UP}`;
  },
};

/** A Measurement from an external run's numbers (no profile span: it ran in another process). */
export function external(run: { n: number; wallMs: number; cpuUs: number; cpuSystemUs: number }) {
  return {
    ...run,
    msgPerSec: run.n / (run.wallMs / 1000),
    cpuUsPerMsg: run.cpuUs / run.n,
    span: { fromUs: 0, toUs: 0 },
  };
}

export default blockingPublish;
