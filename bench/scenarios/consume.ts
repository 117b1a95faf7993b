/** consume+ack: a queue pre-filled with n messages, prefetch `prefetch`, one basic.ack per delivery. */
import { afterWarmUp, DeliveryCounter, makeBody, Stopwatch } from '../measure.js';
import type { Scenario } from './types.js';

const consume: Scenario = {
  section: 'throughput',
  label: 'consume',
  messages: (config) => config.n,
  runs: (config) => config.repeat,
  supports: (client) => client.openConsumer !== undefined,

  async prepare(admin, queue, n, config) {
    await admin.declare(queue);
    await admin.fill(queue, config.warmUp + n, makeBody(config.bodySize));
  },

  async run(client, { url, queue, n, config }) {
    // The first `warmUp` deliveries warm the consumer up; only the n after them are measured.
    const counter = new DeliveryCounter(config.warmUp + n, config.warmUp);
    const consumer = await client.openConsumer!({ url, queue, prefetch: config.prefetch }, counter);
    let watch = new Stopwatch();
    await consumer.start();
    watch = await afterWarmUp(watch, config.warmUp, counter.warmedUp, counter.done);
    await counter.done;
    const result = watch.stop(n);
    await consumer.close();
    return result;
  },

  async verify(admin, queue) {
    // Unacked deliveries go back to the queue when the consumer's connection closes.
    const count = await admin.count(queue);
    return count === 0 ? undefined : `${count} messages left in the queue: not every delivery was acked`;
  },
};

export default consume;
