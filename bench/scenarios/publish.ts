/** publish+confirm: n persistent messages into a fresh queue, at most `window` unconfirmed at once. */
import { makeBody, PublishWindow, Stopwatch } from '../measure.js';
import type { Scenario } from './types.js';

const publish: Scenario = {
  section: 'throughput',
  label: 'publish',
  messages: (config) => config.n,
  runs: (config) => config.repeat,
  supports: (client) => client.openPublisher !== undefined,

  prepare: (admin, queue) => admin.declare(queue),

  async run(client, { url, queue, n, config }) {
    const window = new PublishWindow(n, config.window, makeBody(config.bodySize));
    const publisher = await client.openPublisher!({ url, queue }, window);
    const watch = new Stopwatch();
    await window.run(publisher);
    const result = watch.stop(n);
    await publisher.close();
    return result;
  },

  async verify(admin, queue, n) {
    const count = await admin.count(queue);
    return count === n ? undefined : `queue holds ${count} messages, expected ${n}`;
  },
};

export default publish;
