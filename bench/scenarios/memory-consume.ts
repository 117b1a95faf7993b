/**
 * memory-consume: `rssN` messages consumed and acked (prefetch `prefetch`) from a queue pre-filled with
 * all of them, sampling process.memoryUsage() every `rssEvery` deliveries: the consumer's footprint must
 * stay flat however many messages went through it.
 */
import { DeliveryCounter, Stopwatch } from '../measure.js';
import consume from './consume.js';
import type { MemorySample, Scenario } from './types.js';

const memoryConsume: Scenario = {
  section: 'memory',
  label: 'memory (consume)',
  messages: (config) => config.rssN,
  runs: () => 1,
  defaultClients: (config) => config.rssClients,
  supports: (client) => client.openConsumer !== undefined,

  // A queue pre-filled with all n messages, as the consume scenario's.
  prepare: consume.prepare,

  async run(client, { url, queue, n, config }) {
    const samples: MemorySample[] = [];
    const sample = (messages: number) => {
      const m = process.memoryUsage();
      samples.push({ messages, rss: m.rss, heapUsed: m.heapUsed });
    };
    const counter = new DeliveryCounter(n);
    const counted = counter.onMessage;
    let received = 0;
    const handlers = {
      onMessage: () => {
        counted();
        if (++received % config.rssEvery === 0) sample(received);
      },
      onError: counter.onError,
    };
    const consumer = await client.openConsumer!({ url, queue, prefetch: config.prefetch }, handlers);
    sample(0);
    const watch = new Stopwatch();
    await consumer.start();
    await counter.done;
    const result = watch.stop(n);
    if (samples.at(-1)?.messages !== n) sample(n);
    const maxRss = process.resourceUsage().maxRSS * 1024;
    await consumer.close();
    return { ...result, memory: { samples, maxRss } };
  },

  verify: consume.verify,
};

export default memoryConsume;
