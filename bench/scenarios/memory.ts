/**
 * memory: a long confirmed publish (window `window`) into a queue capped with x-max-length, sampling
 * process.memoryUsage() every `rssEvery` confirms to see whether the client's footprint stays flat.
 */
import { makeBody, PublishWindow, Stopwatch } from '../measure.js';
import type { MemorySample, Scenario } from './types.js';

/** The queue keeps at most this many messages (the oldest are dropped), so the broker does not fill up. */
export const MAX_LENGTH = 1000;

const memory: Scenario = {
  section: 'memory',
  label: 'memory',
  messages: (config) => config.rssN,
  runs: () => 1,
  defaultClients: (config) => config.rssClients,
  supports: (client) => client.openPublisher !== undefined,

  prepare: (admin, queue) => admin.declare(queue, { 'x-max-length': MAX_LENGTH }),

  async run(client, { url, queue, n, config }) {
    const samples: MemorySample[] = [];
    const sample = (messages: number) => {
      const m = process.memoryUsage();
      samples.push({ messages, rss: m.rss, heapUsed: m.heapUsed });
    };
    const window = new PublishWindow(n, config.window, makeBody(config.bodySize), {
      every: config.rssEvery,
      onEvery: sample,
    });
    const publisher = await client.openPublisher!({ url, queue }, window);
    sample(0);
    const watch = new Stopwatch();
    await window.run(publisher);
    const result = watch.stop(n);
    if (samples.at(-1)?.messages !== n) sample(n);
    const maxRss = process.resourceUsage().maxRSS * 1024;
    await publisher.close();
    return { ...result, memory: { samples, maxRss } };
  },

  async verify(admin, queue, n) {
    const count = await admin.count(queue);
    const expected = Math.min(n, MAX_LENGTH);
    return count === expected ? undefined : `queue holds ${count} messages, expected ${expected}`;
  },
};

export default memory;
