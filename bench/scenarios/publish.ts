/** publish+confirm: n persistent messages into a fresh queue, at most `window` unconfirmed at once. */
import { afterWarmUp, makeBody, PublishWindow, Stopwatch } from '../measure.js';
import type { Scenario } from './types.js';

const publish: Scenario = {
  section: 'throughput',
  label: 'publish',
  messages: (config) => config.n,
  runs: (config) => config.repeat,
  supports: (client) => client.openPublisher !== undefined,

  prepare: (admin, queue) => admin.declare(queue),

  async run(client, { url, queue, n, config }) {
    // The warm-up's publishes go first through the same window; only the n after them are measured.
    const { warmUp } = config;
    const window = new PublishWindow(warmUp + n, config.window, makeBody(config.bodySize), { warmUp });
    const publisher = await client.openPublisher!({ url, queue }, window);
    let watch = new Stopwatch();
    const all = window.run(publisher);
    watch = await afterWarmUp(watch, warmUp, window.warmedUp, all);
    await all;
    const result = watch.stop(n);
    await publisher.close();
    return result;
  },

  async verify(admin, queue, n, config) {
    const count = await admin.count(queue);
    const expected = config.warmUp + n;
    return count === expected ? undefined : `queue holds ${count} messages, expected ${n} + ${config.warmUp} warm-up`;
  },
};

export default publish;
