/**
 * Scenario families beyond the 100 B basics: other body sizes, fan-out, many channels, many
 * connections, RPC. Each is a throughput scenario (msg/s and CPU µs/msg columns, ratios vs the peers).
 */
import type { ClientAdapter } from '../clients/types.js';
import type { BenchConfig } from '../config.js';
import { DeliveryCounter, makeBody, PublishWindow, Stopwatch } from '../measure.js';
import type { RunResult, Scenario } from './types.js';

const countIs =
  (expected: (n: number) => number) => async (admin: Parameters<Scenario['verify']>[0], queue: string, n: number) => {
    const count = await admin.count(queue);
    return count === expected(n) ? undefined : `queue holds ${count} messages, expected ${expected(n)}`;
  };

/** In-flight bytes the publish window may hold for large bodies (so 1 MiB bodies do not put 1 GB in flight). */
const WINDOW_BYTES = 16 * 1024 * 1024;

/** publish+confirm of `size`-byte bodies; at most `maxN` messages (the broker holds them all until the run ends). */
export function publishOfSize(size: number, maxN: number): Scenario {
  const window = (config: BenchConfig) => Math.max(1, Math.min(config.window, Math.floor(WINDOW_BYTES / size)));
  return {
    section: 'throughput',
    label: `publish ${size} B`,
    bytesPerMessage: () => size,
    messages: (config) => Math.min(config.n, maxN),
    runs: (config) => config.repeat,
    informational: true,
    supports: (client) => client.openPublisher !== undefined,
    prepare: (admin, queue) => admin.declare(queue),
    async run(client, { url, queue, n, config }) {
      const w = new PublishWindow(n, window(config), makeBody(size));
      const publisher = await client.openPublisher!({ url, queue }, w);
      const watch = new Stopwatch();
      await w.run(publisher);
      const result = watch.stop(n);
      await publisher.close();
      return result;
    },
    verify: countIs((n) => n),
  };
}

/** consume+ack of `size`-byte bodies (queue pre-filled), prefetch scaled so that ≤ 16 MiB are unacked. */
export function consumeOfSize(size: number, maxN: number): Scenario {
  return {
    section: 'throughput',
    label: `consume ${size} B`,
    bytesPerMessage: () => size,
    messages: (config) => Math.min(config.n, maxN),
    runs: (config) => config.repeat,
    informational: true,
    supports: (client) => client.openConsumer !== undefined,
    async prepare(admin, queue, n) {
      await admin.declare(queue);
      await admin.fill(queue, n, makeBody(size));
    },
    async run(client, { url, queue, n, config }) {
      const counter = new DeliveryCounter(n);
      const prefetch = Math.max(1, Math.min(config.prefetch, Math.floor(WINDOW_BYTES / size)));
      const consumer = await client.openConsumer!({ url, queue, prefetch }, counter);
      const watch = new Stopwatch();
      await consumer.start();
      await counter.done;
      const result = watch.stop(n);
      await consumer.close();
      return result;
    },
    verify: countIs(() => 0),
  };
}

/**
 * `connections` connections in one process, each a confirm-mode publisher with 1/connections of the
 * window, n messages in all.
 */
export function manyConnections(connections: number): Scenario {
  return {
    section: 'throughput',
    label: `${connections} connections`,
    messages: (config) => config.n,
    runs: (config) => config.repeat,
    informational: true,
    supports: (client) => client.openPublisher !== undefined,
    prepare: (admin, queue) => admin.declare(queue),
    async run(client, { url, queue, n, config }) {
      const per = Math.floor(n / connections);
      const windows = Array.from(
        { length: connections },
        (_, i) =>
          new PublishWindow(
            i === connections - 1 ? n - per * (connections - 1) : per,
            Math.max(1, Math.floor(config.window / connections)),
            makeBody(config.bodySize),
          ),
      );
      const publishers = await Promise.all(windows.map((w) => client.openPublisher!({ url, queue }, w)));
      const watch = new Stopwatch();
      await Promise.all(windows.map((w, i) => w.run(publishers[i]!)));
      const result = watch.stop(n);
      await Promise.all(publishers.map((p) => p.close()));
      return result;
    },
    verify: countIs((n) => n),
  };
}

/** `channels` confirm-mode channels on ONE connection, each with 1/channels of the window. */
export function manyChannels(channels: number): Scenario {
  return {
    section: 'throughput',
    label: `${channels} channels`,
    messages: (config) => config.n,
    runs: (config) => config.repeat,
    informational: true,
    supports: (client) => client.openChannelPublishers !== undefined,
    prepare: (admin, queue) => admin.declare(queue),
    async run(client, { url, queue, n, config }) {
      const per = Math.floor(n / channels);
      const windows = Array.from(
        { length: channels },
        (_, i) =>
          new PublishWindow(
            i === channels - 1 ? n - per * (channels - 1) : per,
            Math.max(1, Math.floor(config.window / channels)),
            makeBody(config.bodySize),
          ),
      );
      const opened = await client.openChannelPublishers!({ url, queue, channels }, windows);
      const watch = new Stopwatch();
      await Promise.all(windows.map((w, i) => w.run(opened.publishers[i]!)));
      const result = watch.stop(n);
      await opened.close();
      return result;
    },
    verify: countIs((n) => n),
  };
}

/** Names of the fan-out queues of a run: `<queue>.<i>`; the exchange is `<queue>.fanout`. */
export const FANOUT_QUEUES = 10;
const fanoutQueues = (queue: string) => Array.from({ length: FANOUT_QUEUES }, (_, i) => `${queue}.${i}`);

/**
 * One publisher to a fanout exchange bound to 10 queues, one consumer (own connection) per queue; the
 * run ends when all 10 × n deliveries are acked. msg/s counts published messages; CPU is per published
 * message (10 deliveries each).
 */
export const fanout: Scenario = {
  section: 'throughput',
  label: `fan-out ×${FANOUT_QUEUES}`,
  messages: (config) => config.n,
  runs: (config) => config.repeat,
  informational: true,
  supports: (client) => client.openPublisher !== undefined && client.openConsumer !== undefined,
  async prepare(admin, queue) {
    await admin.declareFanout(`${queue}.fanout`, fanoutQueues(queue));
  },
  async run(client: ClientAdapter, { url, queue, n, config }): Promise<RunResult> {
    const counter = new DeliveryCounter(n * FANOUT_QUEUES);
    const consumers = await Promise.all(
      fanoutQueues(queue).map((q) => client.openConsumer!({ url, queue: q, prefetch: config.prefetch }, counter)),
    );
    const w = new PublishWindow(n, config.window, makeBody(config.bodySize));
    const publisher = await client.openPublisher!({ url, queue: '', exchange: `${queue}.fanout` }, w);
    for (const c of consumers) await c.start();
    const watch = new Stopwatch();
    await Promise.all([w.run(publisher), counter.done]);
    const result = watch.stop(n);
    await publisher.close();
    await Promise.all(consumers.map((c) => c.close()));
    return result;
  },
  async verify(admin, queue) {
    for (const q of fanoutQueues(queue)) {
      const count = await admin.count(q);
      if (count !== 0) return `${q} holds ${count} messages, expected 0`;
    }
    return undefined;
  },
  async cleanup(admin, queue) {
    for (const q of fanoutQueues(queue)) await admin.delete(q);
    await admin.deleteExchange(`${queue}.fanout`);
  },
};

/**
 * RPC round trips: `concurrency` callers, each awaiting one call at a time, against a server in the
 * same process that echoes the body; n calls in all. Reports calls/s, CPU per call and the p50 / p99
 * round trip. `maxN` caps the calls: a peer whose request/reply stalls on Nagle + delayed ACK (~44 ms a
 * call with one caller) must still finish within the worker's time limit.
 */
export function rpc(concurrency: number, maxN: number): Scenario {
  return {
    section: 'throughput',
    label: `rpc ×${concurrency}`,
    messages: (config) => Math.min(config.n, maxN),
    runs: (config) => config.repeat,
    informational: true,
    supports: (client) => client.openRpc !== undefined,
    prepare: (admin, queue) => admin.declare(queue),
    async run(client, { url, queue, n, config }) {
      const rpcClient = await client.openRpc!({ url, queue });
      const body = makeBody(config.bodySize);
      for (let i = 0; i < 20; i++) await rpcClient.call(body);
      const latencies = new Float64Array(n);
      let next = 0;
      const caller = async () => {
        for (let i = next++; i < n; i = next++) {
          const t0 = performance.now();
          const reply = await rpcClient.call(body);
          latencies[i] = performance.now() - t0;
          if (reply.byteLength !== body.byteLength) throw new Error(`reply of ${reply.byteLength} bytes`);
        }
      };
      const watch = new Stopwatch();
      await Promise.all(Array.from({ length: concurrency }, caller));
      const result = watch.stop(n);
      await rpcClient.close();
      const sorted = Array.from(latencies).sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]! * 1000;
      return { ...result, latency: { p50Us: at(0.5), p99Us: at(0.99) } };
    },
    verify: countIs(() => 0),
  };
}
