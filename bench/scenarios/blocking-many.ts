/**
 * blocking-many: n persistent messages through a blocking `publishMany` of BATCH messages per call
 * (confirms pipelined inside the call). Compared with blocking-publish (one call per message) in
 * bench/targets.ts: the batch call should reach at least 10× its rate.
 */
import { makeBody, Stopwatch } from '../measure.js';
import type { Scenario } from './types.js';

/** Messages per publishMany call. */
export const BATCH = 1000;

const blockingMany: Scenario = {
  section: 'throughput',
  // Judged by bench/targets.ts (vs pika and the awaited async client), not by the generic peer ratios.
  informational: true,
  label: `blocking publishMany ×${BATCH}`,
  messages: (config) => Math.max(BATCH, Math.ceil(config.n / BATCH) * BATCH),
  runs: (config) => config.repeat,
  supports: (client) => client.openBlockingPublisher !== undefined && client.publishMany === true,

  prepare: (admin, queue) => admin.declare(queue),

  async run(client, { url, queue, n, config }) {
    const publisher = await client.openBlockingPublisher!({ url, queue });
    const batch = Array.from({ length: BATCH }, () => makeBody(config.bodySize));
    await publisher.publishMany!(batch.slice(0, 50));
    const watch = new Stopwatch();
    for (let sent = 0; sent < n; sent += BATCH) {
      const done = publisher.publishMany!(batch);
      if (done) await done;
    }
    const result = watch.stop(n);
    await publisher.close();
    return result;
  },

  async verify(admin, queue, n) {
    const count = await admin.count(queue);
    return count === n + 50 ? undefined : `queue holds ${count} messages, expected ${n} + 50`;
  },
};

export default blockingMany;
